"""A tiny llama-architecture GGUF model, written with the ``gguf`` package, for the llama.cpp interop tier.

The model is real as far as llama.cpp is concerned (llama architecture, 2 layers, hidden size 64, 4 heads, a
366-token SentencePiece vocabulary with byte fallback, a ChatML chat template that declares tools) and loads in
a few milliseconds (the file is about 0.5 MB). Its weights are small random noise with a little behaviour
planted in them, so that the answers are deterministic and the tests can say what they expect:

* after a newline (the end of ChatML's ``<|im_start|>assistant\\n``) it writes ``Hello, world!`` then a globe emoji
  spelt as four byte-fallback tokens (so the server has to hold back incomplete UTF-8), then ``<|im_end|>``:
  :data:`EXPECTED_TEXT`, finish reason ``stop``, 10 completion tokens. With ``ignore_eos`` it starts over after a
  newline, forever, which gives a long stream to cancel;
* when the prompt holds the ``<tools>`` marker (the template writes it when tools are given), one attention head
  finds it and the model opens a ``<tool_call>`` instead, so llama.cpp's own tool-call grammar and parser run;
  after ``</tool_call>`` it ends the turn;
* under a grammar (JSON mode, JSON schema, tool arguments), every other token prefers to close what is open:
  ``"`` before ``}`` before ``{`` before digits, white space last, so constrained output is short and complete.

How: the embedding of every token is ``1`` on dimension 0 (a bias carrier), ``1`` on a "class" dimension
(the token itself for the few tokens with a planted successor, a shared default class for all others) and noise.
``output.weight`` maps each class to the logits of its successors (a bigram table) and dimension 0 to a baseline
preference. Head 0 of layer 0 has a constant query and a key that is non-zero only for ``<tools>`` (on the
slowest-rotating RoPE pair, so position barely matters); its value writes "tools present" into dimension 2, which
raises ``<tool_call>``. Everything else is noise of scale 1e-3.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

MODEL_NAME = "tiny-llama"
"""The alias the server gives the model (``GET /v1/models`` ``id``)."""

EXPECTED_TEXT = "Hello, world!\N{EARTH GLOBE EUROPE-AFRICA}"
"""What the model answers to any plain chat prompt."""
EXPECTED_DELTAS = ["Hello", ",", " ", "world", "!", "\N{EARTH GLOBE EUROPE-AFRICA}"]
"""The answer as llama.cpp streams it: a chunk per token, the emoji's four bytes held back until whole."""
EXPECTED_COMPLETION_TOKENS = 10
"""``Hello`` ``,`` ``▁`` ``world`` ``!``, four byte tokens of the emoji, and ``<|im_end|>``."""

CONTEXT_LENGTH = 4096

# Qwen2.5's ChatML template (tools in the system prompt, Hermes-style <tool_call> blocks): llama.cpp's autoparser
# recognises it and builds its tool-call grammar and parser from it.
CHAT_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided \
with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\
\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or \
(message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

N_EMBD = 64
N_FF = 128
N_LAYER = 2
N_HEAD = 4
HEAD_DIM = N_EMBD // N_HEAD
NOISE = 1e-3

EOT = "<|im_end|>"
NEWLINE = "<0x0A>"
SPACE = "\u2581"  # SentencePiece's word boundary, decoded as " "
SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", EOT]
USER_DEFINED = ["<tools>", "</tools>", "<tool_call>", "</tool_call>"]  # always matched whole by the tokenizer
WORDS = ["Hello", "world", SPACE + "world", SPACE + "hello", "name", "arguments"]

# The planted bigram table: after token A, these logits. Rules beat baselines by a wide margin, so the answers
# are the same at the server's default temperature (0.8) as at 0.
_ANSWER = [NEWLINE, "Hello", ",", SPACE, "world", "!", "<0xF0>", "<0x9F>", "<0x8C>", "<0x8D>"]  # U+1F30D in UTF-8
_RULE = 30.0
_RULES: dict[str, dict[str, float]] = {a: {b: _RULE} for a, b in itertools.pairwise(_ANSWER)}
_RULES["<0x8D>"] = {EOT: _RULE, NEWLINE: 36.0}  # end the turn; with ignore_eos, a newline and again
_RULES[NEWLINE]["<tool_call>"] = 21.0  # below "Hello" alone; above it with the tools bonus
_RULES["<tool_call>"] = {NEWLINE: 40.0}  # llama.cpp's Hermes format wants "<tool_call>\n"
_RULES["</tool_call>"] = {EOT: _RULE}
_DEFAULT_RULE = {EOT: 15.0}  # every other token: end the turn when the grammar allows it
_TOOLS_BONUS = 21.0  # added to <tool_call> when the prompt declares tools
_BASELINE = {
    '"': 10.5,  # close strings at once: keys and values come out empty
    "}": 9.0,
    "{": 7.5,
    "</tool_call>": 6.0,  # rather than spelling it with "<", "/", ...
    "0": 3.0,  # numbers are 0
    SPACE: -9.0,  # no optional white space in JSON
    NEWLINE: -9.0,
    "<0x20>": -9.0,
    "<0x09>": -9.0,
}


def vocabulary() -> tuple[list[str], list[int], list[float]]:
    """Tokens, token types and scores: control tokens, ChatML's markers, 256 byte-fallback tokens, a few words and
    every printable ASCII character, so any text tokenizes and a grammar can spell anything."""
    import gguf

    tokens: list[str] = []
    types: list[int] = []
    scores: list[float] = []

    def add(token: str, kind: gguf.TokenType, score: float = 0.0) -> None:
        tokens.append(token)
        types.append(int(kind))
        scores.append(score)

    add(SPECIAL[0], gguf.TokenType.UNKNOWN)
    for token in SPECIAL[1:]:
        add(token, gguf.TokenType.CONTROL)
    for token in USER_DEFINED:
        add(token, gguf.TokenType.USER_DEFINED)
    for byte in range(256):
        add(f"<0x{byte:02X}>", gguf.TokenType.BYTE)
    for i, word in enumerate(WORDS):
        add(word, gguf.TokenType.NORMAL, -1.0 - 0.01 * i)
    for char in [SPACE, *(chr(c) for c in range(33, 127))]:
        add(char, gguf.TokenType.NORMAL, -10.0)
    return tokens, types, scores


def build_tiny_llama(path: Path | str, *, seed: int = 1234) -> dict[str, Any]:
    """Write the model to ``path``; returns a few facts about it."""
    import gguf
    import numpy as np

    tokens, types, scores = vocabulary()
    index = {token: i for i, token in enumerate(tokens)}
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def noise(*shape: int) -> Any:
        return (rng.standard_normal(shape) * NOISE).astype(np.float32)

    # Dimensions: 0 constant, 1 "<tools> marker", 2 "tools present" (written by attention), 3.. the classes.
    class_dim = {token: 3 + i for i, token in enumerate(_RULES)}
    default_dim = 3 + len(_RULES)
    assert default_dim < N_EMBD

    embedding = noise(n_vocab, N_EMBD)
    embedding[:, 0] = 1.0
    for token, i in index.items():
        embedding[i, class_dim.get(token, default_dim)] = 1.0
    embedding[index["<tools>"], 1] = 1.0

    # RMS norm turns a vector of two ones into one of two values sqrt(N_EMBD / 2): divide the logits by that.
    unit = float(np.sqrt(N_EMBD / 2.0))
    output = noise(n_vocab, N_EMBD)
    for token, logit in _BASELINE.items():
        output[index[token], 0] = logit / unit
    for after, successors in _RULES.items():
        for token, logit in successors.items():
            output[index[token], class_dim[after]] = logit / unit
    for token, logit in _DEFAULT_RULE.items():
        output[index[token], default_dim] = logit / unit
    output[index["<tool_call>"], 2] = _TOOLS_BONUS / unit

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny random llama")
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(1e6)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")  # SentencePiece
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_scores(scores)
    writer.add_unk_token_id(index["<unk>"])
    writer.add_bos_token_id(index["<s>"])
    writer.add_eos_token_id(index[EOT])
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    # Without this SentencePiece puts a space after every control token, the prompt's "<|im_start|>assistant\n"
    # no longer matches the one llama.cpp feeds its grammars, and every grammar request fails with a 400.
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    writer.add_tensor("token_embd.weight", embedding)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    writer.add_tensor("output.weight", output)
    for layer in range(N_LAYER):
        q, k, v, o = (noise(N_EMBD, N_EMBD) for _ in range(4))
        if layer == 0:
            # Head 0 (rows 0..15): query constant, key = "<tools> marker", on rows 14 and 15, the RoPE pair that
            # turns slowest; the value carries the marker into dimension 2 of the residual stream.
            q[HEAD_DIM - 2, 0] = 1.6
            k[HEAD_DIM - 2, 1] = 1.6
            v[0, 1] = 1.0 / unit
            o[2, 0] = 1.0
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(prefix + "attn_q.weight", q)
        writer.add_tensor(prefix + "attn_k.weight", k)
        writer.add_tensor(prefix + "attn_v.weight", v)
        writer.add_tensor(prefix + "attn_output.weight", o)
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", noise(N_FF, N_EMBD))
        writer.add_tensor(prefix + "ffn_up.weight", noise(N_FF, N_EMBD))
        writer.add_tensor(prefix + "ffn_down.weight", noise(N_EMBD, N_FF))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"path": Path(path), "n_vocab": n_vocab, "context_length": CONTEXT_LENGTH}
