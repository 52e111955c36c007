"""The server endpoints an extra graph of a model can answer, and what they reply: declared by
a model's spec (``zoo.registry.Endpoint``), recorded in its bundle's manifest and read back by the
server (``serve.endpoints``). Torch-free, so that the server reads the same table.
"""

# The server endpoints an extra graph can answer (Endpoint.route): what a request gives it.
ROUTES = {
    "generate": "POST /v1/models/NAME/generate (and `zoo generate`): a text under the name of the graph's token "
    "input, one row; the graph's scalar inputs come from the body's keys of the same names",
    "predict": "POST /v1/models/NAME/predict with raw instances (and `zoo predict`): each instance fills the graph's "
    "token input (its lengths input too, where forward's ragged pairs name one); it answers in place of forward",
}
# What such an endpoint replies (Endpoint.reply), from the token ids of the graph's first output.
REPLIES = {
    "text": 'each row\'s ids and their text: {"tokens", "text"}',
    "continuation": 'the prompt, the prompt followed by the ids\' text, and the ids: {PROMPT, "text", "tokens"}',
}
