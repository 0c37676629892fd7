"""Adapters that put a modelport client behind another framework's model-client interface.

- :mod:`modelport.integrations.autogen`: ``AutoGenClient(client)``, an ``autogen_core.models.ChatCompletionClient``
  over any modelport client, for AutoGen's agents (needs ``pip install autogen-core``).
- :mod:`modelport.integrations.camel`: ``CamelModel(client)``, a CAMEL model backend over any modelport client, for
  CAMEL's ``ChatAgent`` and its societies (needs ``pip install 'modelport[camel]'``).

Nothing is imported here: each adapter imports its framework only when its own module is imported.
"""
