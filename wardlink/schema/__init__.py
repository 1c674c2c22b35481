"""The JSON Schema of protocol v1, shipped with the package for tools and tests."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

#: Message kind -> definition name inside the schema file.
DEFINITIONS = {
    "telemetry": "telemetry",
    "events": "events",
    "status": "status",
    "config": "config",
    "cmd": "command",
    "cmd-result": "command_result",
}


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """Return the parsed protocol v1 JSON Schema document."""
    return json.loads(resources.files(__name__).joinpath("protocol-v1.json").read_text())


def validator(kind: str):
    """Return a jsonschema validator for one message kind (``telemetry``, ``status``...)."""
    import jsonschema  # imported lazily: gateways validate with wardlink.protocol alone

    schema = load_schema()
    sub = {"$ref": f"#/$defs/{DEFINITIONS[kind]}", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(sub)
