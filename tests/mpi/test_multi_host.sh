#!/usr/bin/env bash
# Ranks on two hosts that talk over a real network interface: two Linux network namespaces joined by
# a veth pair (10.237.0.1 and 10.237.0.2 on a /30 of their own), each with its own hostname (UTS
# namespace). mpirun runs in host A and starts its daemon in host B through a plm_rsh_agent that
# enters B (instead of ssh); Open MPI is held to TCP on the test subnet (btl tcp,self; oob and btl
# if_include), so every message between ranks crosses the veth pair. Checks that the generated ids
# equal a one-process run's and reports the bytes host A sent over its interface per generated token.
# Then hides the checkpoint from host B (an empty tmpfs over its folder, in B's mount namespace) and
# checks that the job fails fast with one line from a rank on B, and no hang.
# Removes every namespace and link it made, also when it fails.
#   test_multi_host.sh QWEN3_BIN MPIEXEC -- -m MODEL_DIR QWEN3 ARGS...
# Exit 0: passed; 1: a check failed, or setting up the namespaces failed; 77: not root, or no network
# namespaces here (no ip or unshare, or the kernel or container allows none): "SKIPPED: requires
# root|netns: ...", a skip.
set -uo pipefail
bin=$(realpath "$1") mpiexec=$2
[[ $3 == -- && $4 == -m ]] || { echo "usage: test_multi_host.sh QWEN3_BIN MPIEXEC -- -m MODEL_DIR ARGS..."; exit 2; }
model_src=$(realpath "$5")
shift 5
rest=("$@")
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }
# Skipped only where a prerequisite is absent; from here on, anything that does not work is a failure.
probe=$(dirname "$(realpath "$0")")/../../scripts/probe_features.sh
why=$(bash "$probe" root) || skip "requires root: $why (network namespaces need CAP_SYS_ADMIN)"
why=$(bash "$probe" netns) || skip "requires netns: $why"

tag=q3$$
ns_a=$tag-a ns_b=$tag-b
dir=$(mktemp -d /tmp/qwen3-hosts.XXXXXX)
chmod 755 "$dir"
cleanup() {
  ip netns pids "$ns_a" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns pids "$ns_b" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  ip link del "${tag}a" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns_a" && ip netns add "$ns_b" || fail "ip netns add (see the error above)"
ip link add "${tag}a" type veth peer name "${tag}b" || fail "ip link add type veth (see the error above)"
ip link set "${tag}a" netns "$ns_a" && ip link set "${tag}b" netns "$ns_b" || fail "moving the veth ends"
ip -n "$ns_a" addr add 10.237.0.1/30 dev "${tag}a" && ip -n "$ns_b" addr add 10.237.0.2/30 dev "${tag}b" || fail "addresses"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "${tag}a" up && ip -n "$ns_b" link set "${tag}b" up || fail "links up"

# Open MPI's remote start: "AGENT HOST COMMAND..." runs COMMAND in that host's namespaces.
cat > "$dir/ns-agent" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  10.237.0.1) ns=$ns_a; name=$tag-host-a ;;
  10.237.0.2) ns=$ns_b; name=$tag-host-b ;;
  *) echo "ns-agent: unknown host \$host" >&2; exit 1 ;;
esac
# HIDE_ON_B: a folder that host B does not have (its own mount namespace, an empty tmpfs on top).
hide=""
[ "\$host" = 10.237.0.2 ] && [ -n "\${HIDE_ON_B:-}" ] && hide="mount -t tmpfs none \$HIDE_ON_B;"
exec ip netns exec "\$ns" unshare --uts --mount sh -c "hostname \$name; \$hide \$*"
AGENT
chmod +x "$dir/ns-agent"
printf '10.237.0.1 slots=2\n10.237.0.2 slots=2\n' > "$dir/hosts"
tx_bytes() { ip netns exec "$ns_a" cat "/sys/class/net/${tag}a/statistics/tx_bytes"; }

# The model is copied into the test folder, so that hiding it from host B hides nothing else.
cp -r "$model_src" "$dir/model"
args=(-m "$dir/model" "${rest[@]}")
want=$("$bin" "${args[@]}" 2>/dev/null) || fail "the one-process run failed"
as_root=(); [[ $(id -u) -eq 0 ]] && as_root=(--allow-run-as-root)
on_two_hosts() {  # mpirun in host A, 4 ranks dealt over A and B, TCP on the test subnet only
  ip netns exec "$ns_a" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$tag-host-a" \
    "$mpiexec" "${as_root[@]}" --hostfile "$dir/hosts" -n 4 --map-by node \
    --mca plm_rsh_agent "$dir/ns-agent" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.237.0.0/30 --mca oob_tcp_if_include 10.237.0.0/30 \
    -x OMP_NUM_THREADS=1 "$bin" "$@"
}
before=$(tx_bytes)
got=$(on_two_hosts "${args[@]}" --stats 2> "$dir/err")
rc=$?
after=$(tx_bytes)
[[ $rc -eq 0 ]] || { tail -20 "$dir/err"; fail "mpirun across the two hosts exited $rc"; }
[[ "$got" == "$want" ]] || fail "4 ranks on 2 hosts printed '$got', one process '$want'"
grep -q "ranks 4 = " "$dir/err" || fail "no load line naming 4 ranks"
generated=$(grep -o "generated [0-9]*" "$dir/err" | head -1 | grep -o "[0-9]*")
echo "4 ranks on 2 hosts (network namespaces, veth, TCP): same output as one process"
grep -E "^(load|timing|stats):" "$dir/err" | sed 's/^/  /'
echo "  host A sent $((after - before)) bytes over its interface for $generated generated tokens (prompt included):" \
  "$(((after - before) / (generated > 0 ? generated : 1))) bytes per generated token"

# Host B without the checkpoint: one line from a rank there, every rank stops, no hang.
t0=$SECONDS
HIDE_ON_B="$dir/model" on_two_hosts "${args[@]}" > /dev/null 2> "$dir/err_hidden" &
job=$!
for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then kill -9 "$job"; tail -20 "$dir/err_hidden"; fail "hung: still running 60 s after start with the checkpoint missing on host B"; fi
wait "$job"
rc=$?
[[ $rc -ne 0 ]] || { tail -20 "$dir/err_hidden"; fail "with the checkpoint missing on host B the job exited 0"; }
grep -q "^qwen3_mpi: error: rank [0-9]*: .*$dir/model" "$dir/err_hidden" || { tail -20 "$dir/err_hidden"; fail "no one-line error naming a rank and the missing checkpoint"; }
lines=$(grep -c "^qwen3_mpi: error" "$dir/err_hidden")
[[ $lines -eq 1 ]] || { cat "$dir/err_hidden"; fail "$lines error lines, expected one for the job"; }
echo "checkpoint missing on host B: exit $rc after $((SECONDS - t0)) s:"
grep "^qwen3_mpi: error" "$dir/err_hidden" | sed 's/^/  /'
