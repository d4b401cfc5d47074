// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_vmfs_cpuid.c - the CPU reports hosts publish and the preflight compares
 * (vmfs_cpuid.c): what this machine reports, the JSON round trip, malformed JSON refused,
 * and the features a destination lacks, named or by bit, the hypervisor bit left out.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/client/vmfs_cpuid.h"

static void test_cpuid_read_this_machine(void **st)
{
	struct vmfs_cpuid c;

	(void)st;
	vmfs_cpuid_read(&c);
	assert_int_equal(strlen(c.vendor), 12);
	/* every x86-64 CPU has these: long mode, nx, sse2, fpu */
	assert_true(c.w[VMFS_CPUID_81_EDX] & (1u << 29));
	assert_true(c.w[VMFS_CPUID_81_EDX] & (1u << 20));
	assert_true(c.w[VMFS_CPUID_1_EDX] & (1u << 26));
	assert_true(c.w[VMFS_CPUID_1_EDX] & 1u);
	assert_true(c.family > 0);
}

static void test_cpuid_json_round_trip(void **st)
{
	struct vmfs_cpuid a, b;
	json_t *j;

	(void)st;
	vmfs_cpuid_read(&a);
	j = vmfs_cpuid_to_json(&a);
	assert_non_null(j);
	assert_int_equal(vmfs_cpuid_from_json(j, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	json_object_del(json_object_get(j, "words"), "7.ebx");
	assert_int_equal(vmfs_cpuid_from_json(j, &b), -EINVAL);
	json_decref(j);
	j = json_pack("{s:s}", "vendor", "x");
	assert_int_equal(vmfs_cpuid_from_json(j, &b), -EINVAL);
	json_decref(j);
}

struct seen {
	char names[512];
};

static void collect(const char *f, void *arg)
{
	struct seen *s = arg;

	strncat(s->names, f, sizeof(s->names) - strlen(s->names) - 2);
	strcat(s->names, " ");
}

static void test_cpuid_missing_named(void **st)
{
	struct vmfs_cpuid src = { 0 }, dst = { 0 };
	struct seen s = { "" };

	(void)st;
	src.w[VMFS_CPUID_7_EBX] = (1u << 5) | (1u << 16) | (1u << 1); /* avx2 avx512f bit 1 */
	src.w[VMFS_CPUID_1_ECX] = (1u << 31) | (1u << 28);            /* hypervisor avx */
	dst.w[VMFS_CPUID_1_ECX] = 1u << 28;
	dst.w[VMFS_CPUID_81_EDX] = 1u << 27; /* the destination's extras do not matter */
	assert_int_equal(vmfs_cpuid_missing(&src, &dst, collect, &s), 3);
	assert_string_equal(s.names, "7.ebx bit 1 avx2 avx512f ");
	s.names[0] = '\0';
	assert_int_equal(vmfs_cpuid_missing(&dst, &dst, collect, &s), 0);
	assert_string_equal(s.names, "");
	assert_string_equal(vmfs_cpuid_feature(VMFS_CPUID_81_EDX, 20), "nx");
	assert_null(vmfs_cpuid_feature(VMFS_CPUID_7_EBX, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuid_read_this_machine),
		cmocka_unit_test(test_cpuid_json_round_trip),
		cmocka_unit_test(test_cpuid_missing_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
