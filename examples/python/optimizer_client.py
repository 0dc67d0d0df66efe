#!/usr/bin/env python3
"""A Python client of the Inferno optimizer: asks Optimizer/Size for the largest request rate one
replica carries within its TTFT and ITL targets, and prints the answer in proto3 JSON.

The stubs are generated at run time from proto/ (grpcio-tools' protoc, into a temporary
directory that is removed afterwards): nothing generated is committed, and the client always
speaks the contract of the checkout it runs from.

    pip install grpcio grpcio-tools              # `make tools` installs them
    inferno-optimizer serve --listen 127.0.0.1:3302 &
    python3 examples/python/optimizer_client.py --target 127.0.0.1:3302 \
        --problem samples/problem.json

The problem file is a QueueRequest in proto3 JSON (`rps`, `maxBatchSize`, `targetTtft`, ...);
so is what grpcurl sends. With --token (or INFERNO_TOKEN) every call carries
`authorization: Bearer <token>`, for a server started with --auth-token-file.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def generate_stubs(proto_dir: Path, out_dir: Path) -> None:
    """Compiles every inferno/v1 file with grpcio-tools' protoc into `out_dir`."""
    import grpc_tools
    from grpc_tools import protoc

    # The well-known types (google/protobuf/duration.proto, ...) ship with grpcio-tools.
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(proto_dir)) for p in (proto_dir / "inferno" / "v1").glob("*.proto"))
    args = [
        "protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        sys.exit(f"protoc failed on {proto_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:3302", help="the optimizer's gRPC address")
    parser.add_argument(
        "--problem",
        default=str(REPO / "samples" / "problem.json"),
        help="a QueueRequest in proto3 JSON",
    )
    parser.add_argument("--proto", default=str(REPO / "proto"), help="the contract's directory")
    parser.add_argument("--token", default=os.environ.get("INFERNO_TOKEN"), help="bearer token")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline of the call, seconds")
    args = parser.parse_args()

    import grpc
    from google.protobuf import json_format

    with tempfile.TemporaryDirectory(prefix="inferno-stubs-") as out:
        generate_stubs(Path(args.proto), Path(out))
        sys.path.insert(0, out)
        optimizer_pb2 = importlib.import_module("inferno.v1.optimizer_pb2")
        optimizer_pb2_grpc = importlib.import_module("inferno.v1.optimizer_pb2_grpc")

        request = json_format.Parse(Path(args.problem).read_text(), optimizer_pb2.QueueRequest())
        metadata = [("authorization", f"Bearer {args.token}")] if args.token else None
        with grpc.insecure_channel(args.target) as channel:
            stub = optimizer_pb2_grpc.OptimizerStub(channel)
            try:
                answer = stub.Size(request, timeout=args.timeout, metadata=metadata)
            except grpc.RpcError as e:
                print(f"Size: {e.code().name}: {e.details()}", file=sys.stderr)
                return 1
        text = json_format.MessageToJson(answer, always_print_fields_with_no_presence=True)
        print(json.dumps(json.loads(text), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
