/* What the separator asks of the CPU at run time: how many CPUs the process may use, and
 * whether it has the AVX512_BF16 instructions (the bfloat16 path). Static inline functions
 * only, no state: Swift cannot call cpuid or the GNU affinity API itself. */
#ifndef CCPUINFO_SHIM_H
#define CCPUINFO_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <unistd.h>

/* The CPUs in the process's affinity mask (narrowed by taskset and cgroup cpusets), else the
 * online CPUs. */
static inline int ae_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/* Whether the CPU has AVX512_BF16 (cpuid leaf 7 subleaf 1, EAX bit 5) and AVX-512F, and the
 * kernel saves the AVX-512 state (the compiler runtime checks XCR0). */
static inline int ae_cpu_has_avx512_bf16(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}
#endif
