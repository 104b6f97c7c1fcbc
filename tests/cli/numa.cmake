# NUMA domains inside a process (--numa, numa/): hwloc pretends this one-domain machine has 2 (or 4)
# domains, with real CPU binding (HWLOC_THISSYSTEM=1). Each domain is a member of the same layout as
# MPI ranks, so the ids and the logprobs must be transformers' (within 1e-4), as with one team.
set(PRETEND2 "HWLOC_SYNTHETIC=package:2 numa:1 core:1 pu:1" HWLOC_THISSYSTEM=1)
set(PRETEND4 "HWLOC_SYNTHETIC=package:4 numa:1 core:1 pu:1" HWLOC_THISSYSTEM=1)
set(_numa_verify -m ${GQA4} --verify ${GQA4_PROMPT_IDS} --gen-len 8 --json)
set(_numa_reference JSON_KIND generate EXPECT_GENERATED_IDS ${GQA4_GREEDY_IDS} EXPECT_LOGPROBS ${GQA4_GREEDY_LOGPROBS}
  LOGPROB_TOL 0.0001 EXPECT_TOP_IDS "${GQA4_GREEDY_TOP5}")
# Two domains split the 2 KV heads (tp 2); the load line names the domains and their teams.
qwen3_cli_ok(cli.numa.two_domains_match_transformers 74 ARGS ${_numa_verify} ${_numa_reference} ENV ${PRETEND2} RUN_SERIAL
  EXPECT_STDERR_REGEX "\\| threads 1 \\| numa 2 domains: node 0 \\(1 thread\\), node 1 \\(1 thread\\) \\| members 2 = tp 2 x sp 1 \\(member 0's share\\)\n")
# ... and one team (--numa off) on the same pretend machine, against the same reference.
qwen3_cli_ok(cli.numa.off_matches_transformers 74 ARGS ${_numa_verify} -t 2 --numa off ${_numa_reference} ENV ${PRETEND2} REJECT_STDERR_REGEX "numa|members")
# Four pretend domains on 2 CPUs: the two without a usable core are left out, one note each.
qwen3_cli_ok(cli.numa.four_domains_two_usable 74 ARGS ${_numa_verify} ${_numa_reference} ENV ${PRETEND4} RUN_SERIAL
  EXPECT_STDERR_REGEX "^note: --numa: NUMA node 2 has no cores this process may use; no team runs there\nnote: --numa: NUMA node 3 has no cores this process may use; no team runs there\n"
  "numa 2 domains: ")
# Domains splitting the KV blocks (sp 2) merge partial softmax states in shared memory: the same ids
# for both attention paths and a bf16 cache across many blocks.
qwen3_cli_case(cli.numa.sp_domains_equal_one_team ENV ${PRETEND2}
  ARGS -m ${QWEN3_CLI_MODELS}/tiny-gqa4-bf16 --verify ${GQA4_PROMPT_IDS} --gen-len 40 --sp 2 --kv-block 4 --kv-type bf16
  COMPARE_ARGS -m ${QWEN3_CLI_MODELS}/tiny-gqa4-bf16 --verify ${GQA4_PROMPT_IDS} --gen-len 40 --kv-block 4 --kv-type bf16 --numa off -t 1
  EXPECT_STDOUT_REGEX "^.395, ?6, ?220, ?253, ?117, ?325, ?40, ?244, " EXPECT_STDERR_REGEX "members 2 = tp 1 x sp 2" RUN_SERIAL)
qwen3_cli_case(cli.numa.standard_attention_equals_one_team ENV ${PRETEND2}
  ARGS -m ${GQA4} --verify ${GQA4_PROMPT_IDS} --gen-len 40 --attention standard
  COMPARE_ARGS -m ${GQA4} --verify ${GQA4_PROMPT_IDS} --gen-len 40 --attention standard --numa off -t 1 RUN_SERIAL)
# Text in, text out with the default model (bf16, 6 layers) and eval: the same as one team.
qwen3_cli_case(cli.numa.text_equals_one_team ENV ${PRETEND2} ARGS -p "It was a dark and stormy night" -n 24 --temp 0
  COMPARE_ARGS -p "It was a dark and stormy night" -n 24 --temp 0 --numa off -t 2 RUN_SERIAL)
# (680.56x and 0.0000 are what --numa off prints.)
qwen3_cli_case(cli.numa.eval_equals_one_team ENV ${PRETEND2} ARGS eval -m ${GQA4} --text ${GQA4_PROMPT_FILE} --kv-block 4
  EXPECT_STDOUT_REGEX "\\| numa 2 domains: node 0 \\(1 thread\\), node 1 \\(1 thread\\)\n" "\n +74 +680\\.56[0-9] +0\\.0000 " RUN_SERIAL)
qwen3_cli_bad_input(numa_value ARGS -m ${GQA4} -p "It is" --numa on EXPECT_STDERR_REGEX "--numa: on not in \\{auto,off\\}")
# Ranks x domains: 2 ranks (not bound by mpirun) x 2 pretend domains = 4 members, as tp 2 x sp 2 and
# as tp 1 x sp 4 (a KV group spanning both processes: merges in shared memory, then over MPI).
qwen3_cli_ok(cli.mpi.numa_two_ranks_two_domains_n2 74 RANKS 2 ARGS ${_numa_verify} --kv-block 4 ${_numa_reference}
  ENV ${PRETEND2} OMPI_MCA_hwloc_base_binding_policy=none EXPECT_STDERR_REGEX "members 4 = tp 2 x sp 2")
qwen3_cli_ok(cli.mpi.numa_kv_group_across_processes_n2 74 RANKS 2 ARGS ${_numa_verify} --kv-block 4 --tp 1 ${_numa_reference}
  ENV ${PRETEND2} OMPI_MCA_hwloc_base_binding_policy=none EXPECT_STDERR_REGEX "members 4 = tp 1 x sp 4")
# The binding evidence (--stats): each domain's team (here one thread, its leader) bound once to its
# cores and node, and its weight slice (10 MiB of the default model, a large buffer) bound to its node.
qwen3_cli_ok(cli.numa.stats_count_the_bindings [0-9]+ ARGS -p "It was" -n 4 --stats ENV ${PRETEND2} RUN_SERIAL
  EXPECT_STDERR_REGEX "\nnuma: node 0: 1 thread bindings to its cores, 1 to its memory, [1-9][0-9]* large buffers bound to it; node 1: 1 thread bindings to its cores, 1 to its memory, [1-9][0-9]* large buffers bound to it\n")
# The simple alternative: one rank per domain (mpirun --map-by numa --bind-to numa, as MCA variables
# here). Each rank spans one domain, so --numa auto runs one team per rank, and the ids are the same.
qwen3_cli_ok(cli.mpi.numa_one_rank_per_domain_n2 74 RANKS 2 ARGS ${_numa_verify} ${_numa_reference}
  ENV ${PRETEND2} OMPI_MCA_rmaps_base_mapping_policy=numa OMPI_MCA_hwloc_base_binding_policy=numa
  EXPECT_STDERR_REGEX "\\| ranks 2 = tp 2 x sp 1 \\(rank 0's share\\)" REJECT_STDERR_REGEX "numa 2 domains|note: --numa")
