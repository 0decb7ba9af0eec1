"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST API) on the wire.

An inference request is a JSON object naming input tensors; a tensor's elements are in its
``data`` (JSON) or, with the binary-data extension that tritonclient uses by default, in raw
bytes after the JSON (``Inference-Header-Content-Length`` says where the JSON ends and each
input's ``parameters.binary_data_size`` how many bytes are its own). A ``BYTES`` element in
binary is a 4-byte little-endian length and the bytes; in JSON it is a string. Outputs come
back in JSON, or in binary where the request asks (``binary_data`` per output, or
``binary_data_output`` for all).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

HEADER_LENGTH = "inference-header-content-length"
_LENGTH = struct.Struct("<I")


class ProtocolError(ValueError):
    """A request the protocol cannot read: a 400 with its ``{"error": ...}`` body."""


class InputTensor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The model's input: `text` or `image`.")
    shape: list[int] = Field(description="`[N]` (or `[N, 1]`).")
    datatype: str = Field(description="`BYTES`.")
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size`: the input's bytes after the JSON."
    )
    data: list[Any] | None = Field(
        None, description="Texts as strings; images as base64 strings of the encoded file."
    )


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="`label` or `probabilities`.")
    parameters: dict[str, Any] | None = Field(None, description="`binary_data`: true or false.")


class InferenceRequest(BaseModel):
    """POST /v2/models/{name}/infer: one input tensor of N elements."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "inputs": [
                        {
                            "name": "text",
                            "shape": [2],
                            "datatype": "BYTES",
                            "data": ["Where is my parcel?", "The app crashes on start."],
                        }
                    ]
                }
            ]
        },
    )

    id: str | None = Field(None, description="Echoed in the response.")
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_output`: all outputs in binary."
    )
    inputs: list[InputTensor] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = Field(
        None, description="The outputs wanted (default: all)."
    )


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: any size.")


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class ServerMetadata(BaseModel):
    model_config = _examples(
        {"name": "textcnn", "version": "0.1.0", "extensions": ["binary_tensor_data"]}
    )

    name: str
    version: str
    extensions: list[str]


class LiveResponse(BaseModel):
    model_config = _examples({"live": True})

    live: bool


class ServerReadyResponse(BaseModel):
    """Whether the server is ready: every configured model loaded (/ready says more)."""

    model_config = _examples({"ready": True})

    ready: bool


class ModelReadyResponse(BaseModel):
    model_config = _examples({"name": "text", "ready": True})

    name: str
    ready: bool


class ModelMetadata(BaseModel):
    model_config = _examples(
        {
            "name": "text",
            "versions": ["v3"],
            "platform": "textcnn_text",
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
            ],
            "parameters": {"labels": ["billing", "shipping"]},
        }
    )

    name: str
    versions: list[str] = Field(description="The version served.")
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] = Field(description="`labels`: the columns of `probabilities`.")


class OutputTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size` when the data follows the JSON."
    )
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_config = _examples(
        {
            "model_name": "text",
            "model_version": "v3",
            "outputs": [
                {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["billing"]},
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": [1, 2],
                    "data": [0.93, 0.07],
                },
            ],
        }
    )

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[OutputTensor]


def parse_request(body: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """The request's JSON part and the binary data that follows it."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise ProtocolError(
                f"Inference-Header-Content-Length {header_length!r} is not a length within "
                f"the {len(body)}-byte body"
            )
        body, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        return InferenceRequest.model_validate_json(body), binary
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)[:5]
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
        raise ProtocolError(f"malformed inference request: {where}") from None


def input_elements(tensor: InputTensor, binary: bytes, offset: int) -> tuple[list[Any], int]:
    """A ``BYTES`` tensor's elements (``bytes`` from binary data, ``str`` from JSON) and the
    offset of the next input's binary data."""
    if tensor.datatype != "BYTES":
        raise ProtocolError(f"input {tensor.name!r} must be BYTES, not {tensor.datatype}")
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] < 0:
        raise ProtocolError(f"input {tensor.name!r} must have shape [N] or [N, 1], not {shape}")
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None:
        if tensor.data is not None:
            raise ProtocolError(f"input {tensor.name!r} has both data and binary_data_size")
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise ProtocolError(
                f"input {tensor.name!r}: binary_data_size {size!r} runs past the binary data"
            )
        elements = _unpack_bytes(binary[offset : offset + size], tensor.name)
        offset += size
    elif tensor.data is None:
        raise ProtocolError(f"input {tensor.name!r} has neither data nor binary_data_size")
    else:
        elements = _flatten(tensor.data)
        if not all(isinstance(e, str) for e in elements):
            raise ProtocolError(f"input {tensor.name!r}: BYTES elements in JSON are strings")
    if len(elements) != shape[0]:
        raise ProtocolError(f"input {tensor.name!r} has shape {shape} but {len(elements)} elements")
    return elements, offset


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _unpack_bytes(raw: bytes, name: str) -> list[bytes]:
    elements, i = [], 0
    while i < len(raw):
        if i + 4 > len(raw):
            raise ProtocolError(f"input {name!r}: truncated BYTES element length")
        (n,) = _LENGTH.unpack_from(raw, i)
        if i + 4 + n > len(raw):
            raise ProtocolError(f"input {name!r}: a BYTES element runs past its data")
        elements.append(raw[i + 4 : i + 4 + n])
        i += 4 + n
    return elements


def response_body(
    head: dict[str, Any],
    outputs: Sequence[tuple[str, str, list[int], list[Any]]],
    request: InferenceRequest,
) -> tuple[bytes, int | None]:
    """The inference response for ``outputs`` (name, datatype, shape, flat values), those
    the request asked for, each in JSON or binary as asked; and the JSON part's length when
    binary data follows it."""
    available = {name: (datatype, shape, values) for name, datatype, shape, values in outputs}
    all_binary = bool((request.parameters or {}).get("binary_data_output", False))
    wanted = request.outputs or [RequestedOutput(name=name) for name in available]
    tensors, binary = [], []
    for out in wanted:
        if out.name not in available:
            raise ProtocolError(f"unknown output {out.name!r} (outputs: {', '.join(available)})")
        datatype, shape, values = available[out.name]
        tensor: dict[str, Any] = {"name": out.name, "datatype": datatype, "shape": shape}
        if (out.parameters or {}).get("binary_data", all_binary):
            raw = _pack(datatype, values)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            binary.append(raw)
        else:
            tensor["data"] = values
        tensors.append(tensor)
    header = orjson.dumps({**head, "outputs": tensors})
    if not binary:
        return header, None
    return header + b"".join(binary), len(header)


def _pack(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        encoded = [v.encode("utf-8") for v in values]
        return b"".join(_LENGTH.pack(len(e)) + e for e in encoded)
    if datatype == "FP32":
        return struct.pack(f"<{len(values)}f", *values)
    raise ValueError(f"no binary encoding for {datatype}")
