"""Adapters that put a modelport client behind another framework's model-client interface.

- :mod:`modelport.integrations.autogen`: ``AutoGenClient(client)``, an ``autogen_core.models.ChatCompletionClient``
  over any modelport client, for AutoGen's agents (needs ``pip install autogen-core``).

Nothing is imported here: each adapter imports its framework only when its own module is imported.
"""
