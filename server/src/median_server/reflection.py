"""Server reflection under both names tools ask for: `grpc.reflection.v1` and `v1alpha`.

grpcio-reflection serves `grpc.reflection.v1alpha.ServerReflection` only, while newer tools
(grpcurl 1.9, Postman, grpcui) ask `grpc.reflection.v1.ServerReflection` first and some ask
nothing else. The two protocols are the same messages under another package name (grpc-proto's
`grpc/reflection/v1/reflection.proto` is a copy of v1alpha's), so the same servicer answers both:
its v1alpha messages are byte for byte the v1 ones on the wire. The v1 file is registered in the
descriptor pool too, so that `grpcurl describe grpc.reflection.v1.ServerReflection` works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
_V1ALPHA_PACKAGE = reflection_pb2.DESCRIPTOR.package


def _register_v1_descriptor() -> None:
    """Adds `grpc/reflection/v1/reflection.proto` to the default pool, made from v1alpha's."""
    pool = descriptor_pool.Default()
    v1_file = f"{V1_PACKAGE.replace('.', '/')}/reflection.proto"
    try:
        pool.FindFileByName(v1_file)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = v1_file
    proto.package = V1_PACKAGE
    old, new = f".{_V1ALPHA_PACKAGE}.", f".{V1_PACKAGE}."
    for message in proto.message_type:
        for message_field in message.field:
            if message_field.HasField("type_name"):
                message_field.type_name = message_field.type_name.replace(old, new)
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new)
            method.output_type = method.output_type.replace(old, new)
    proto.options.Clear()
    pool.Add(proto)


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serves reflection v1 and v1alpha for `service_names` (both reflection services added)."""
    _register_v1_descriptor()
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer: Any = reflection.aio.ReflectionServicer(names)  # type: ignore[attr-defined]
    for service_name in (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME):
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, {"ServerReflectionInfo": handler}),)
        )
