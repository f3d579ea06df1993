"""The XLA flags of the default suite, shared by conftest.py and the subprocesses tests start.

The default suite checks behaviour, not speed, and most of its time is compilation: without
XLA's backend optimisations and with the classic (not fusion-emitter) CPU code generator a
program compiles about 3x faster. Measured 2026-12-05 (commit 2956a5d, 2-core CPU) as the
`lower().compile()` time of `jax.jit(lambda s: mlsh_update(spec, s))` for test_mlsh.py's TINY
config: 7.6 s with XLA's defaults, 4.2-4.7 s at optimisation level 0, 2.4 s with both flags.
Without LLVM's expensive passes as well: 2.83-2.85 s against 2.98-3.08 s (2026-12-06, commit
d496025, two runs each). Runs compared with one another within a test all use the same flags.
"""

FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false",
                "--xla_llvm_disable_expensive_passes=true")


def with_fast_compile(flags: str) -> str:
    """`flags` (an XLA_FLAGS value) plus each FAST_COMPILE flag it does not already set."""
    missing = [flag for flag in FAST_COMPILE if flag.split("=")[0] not in flags]
    return " ".join([flags.strip()] + missing).strip()
