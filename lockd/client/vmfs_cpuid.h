/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmfs_cpuid.h - a host's CPU as a live migration cares about it: vendor, family, model,
 * stepping, brand, and the CPUID feature words (leaf 1 ECX/EDX, leaf 7 EBX/ECX/EDX,
 * 0x80000001 ECX/EDX, XSAVE leaf 0xD: XCR0 bits and subleaf 1). Every vmfs-lockd
 * publishes its host's to the cluster (lkc_info.c); vmfsadm cpuid prints one;
 * vmfs-handoff check names each feature the source has and the destination lacks.
 */
#ifndef VMFS_CPUID_H
#define VMFS_CPUID_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum vmfs_cpuid_word {
	VMFS_CPUID_1_ECX, VMFS_CPUID_1_EDX,
	VMFS_CPUID_7_EBX, VMFS_CPUID_7_ECX, VMFS_CPUID_7_EDX,
	VMFS_CPUID_81_ECX, VMFS_CPUID_81_EDX,
	VMFS_CPUID_D0_EAX, VMFS_CPUID_D1_EAX,
	VMFS_CPUID_NWORDS
};

struct vmfs_cpuid {
	char vendor[13];
	char brand[49];
	uint32_t family, model, stepping;
	uint32_t w[VMFS_CPUID_NWORDS];
};

/* This host's, from the cpuid instruction. */
void vmfs_cpuid_read(struct vmfs_cpuid *out);
/* { vendor, brand, family, model, stepping, words: { "1.ecx": N, ... } }; NULL on ENOMEM. */
json_t *vmfs_cpuid_to_json(const struct vmfs_cpuid *c);
/* 0, or -EINVAL when j is not such an object. */
int vmfs_cpuid_from_json(json_t *j, struct vmfs_cpuid *out);
/* The word's name as in the JSON ("1.ecx"). */
const char *vmfs_cpuid_word_name(enum vmfs_cpuid_word w);
/* The feature of bit b of word w ("avx2"), or NULL when it has no name here. */
const char *vmfs_cpuid_feature(enum vmfs_cpuid_word w, unsigned b);
/* Calls fn for each feature src has and dst lacks (named, or "7.ebx bit 12"); how many. */
size_t vmfs_cpuid_missing(const struct vmfs_cpuid *src, const struct vmfs_cpuid *dst,
			  void (*fn)(const char *feature, void *arg), void *arg);

#endif
