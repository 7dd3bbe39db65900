#!/usr/bin/env bash
# Builds vir-base:bookworm, the local base image every deploy/ Dockerfile starts FROM.
# No container registry is reachable, so the base comes from a Debian mirror instead:
#   debootstrap --variant=minbase bookworm /tmp/rootfs && tar -C /tmp/rootfs -c . | docker import - vir-base:bookworm
# Needs root, debootstrap and a running Docker engine. Optional argument: a Debian mirror URL.
set -euo pipefail

rootfs="$(mktemp -d /tmp/rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase bookworm "$rootfs" ${1:+"$1"}
tar -C "$rootfs" -c . | docker import - vir-base:bookworm
