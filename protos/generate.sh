#!/bin/sh
# Regenerates tfjsconv/_proto/*_pb2.py from protos/tfjsconv/_proto/*.proto.
# Must use grpcio-tools 1.62.* (protoc 25.x): its output carries no runtime-version check and imports
# under every protobuf runtime from 4.25 to 7.x.  Run from anywhere; paths are resolved from this file.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python3 -m grpc_tools.protoc -I protos --python_out=. protos/tfjsconv/_proto/*.proto
