/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memlock_shim.c - an LD_PRELOAD object for running the sanlock daemon as the benchmark
 * peer (tests/bench/sanlock-peer.sh) where root lacks CAP_SYS_RESOURCE, as in some
 * containers and VMs. At start the daemon raises RLIMIT_MEMLOCK, RLIMIT_RTPRIO and
 * RLIMIT_CORE to unlimited and exits if any of them fails ("cannot set the limits for
 * memlock"). It is run with `-l 0 -h 0` (no mlockall, no SCHED_RR), so the memlock and
 * rtprio limits are never used: this shim turns an EPERM from raising exactly those two
 * into success. Every other call, and every call that the real setrlimit() accepts, goes
 * to the real setrlimit() (dlsym RTLD_NEXT) unchanged.
 *
 * Built at run time by sanlock-peer.sh:  cc -shared -fPIC -o memlock_shim.so memlock_shim.c -ldl
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>

typedef int (*shim_setrlimit_fn)(__rlimit_resource_t, const struct rlimit *);

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rlim)
{
	static shim_setrlimit_fn real;
	int rc;

	if (!real)
		real = (shim_setrlimit_fn)dlsym(RTLD_NEXT, "setrlimit");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	rc = real(resource, rlim);
	if (rc < 0 && errno == EPERM &&
	    (resource == RLIMIT_MEMLOCK || resource == RLIMIT_RTPRIO))
		return 0;
	return rc;
}
