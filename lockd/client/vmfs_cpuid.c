/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmfs_cpuid.c - a host's CPU identity and feature words (contract: vmfs_cpuid.h). The
 * names follow the Linux kernel's /proc/cpuinfo flags (arch/x86/include/asm/cpufeatures.h).
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lockd/client/vmfs_cpuid.h"

static const char *const word_names[VMFS_CPUID_NWORDS] = {
	"1.ecx", "1.edx", "7.ebx", "7.ecx", "7.edx", "80000001.ecx", "80000001.edx",
	"d.0.eax", "d.1.eax",
};

struct feat {
	enum vmfs_cpuid_word w;
	unsigned bit;
	const char *name;
};

static const struct feat feats[] = {
	{ VMFS_CPUID_1_EDX, 0, "fpu" }, { VMFS_CPUID_1_EDX, 4, "tsc" },
	{ VMFS_CPUID_1_EDX, 5, "msr" }, { VMFS_CPUID_1_EDX, 6, "pae" },
	{ VMFS_CPUID_1_EDX, 8, "cx8" }, { VMFS_CPUID_1_EDX, 9, "apic" },
	{ VMFS_CPUID_1_EDX, 11, "sep" }, { VMFS_CPUID_1_EDX, 15, "cmov" },
	{ VMFS_CPUID_1_EDX, 16, "pat" }, { VMFS_CPUID_1_EDX, 17, "pse36" },
	{ VMFS_CPUID_1_EDX, 19, "clflush" }, { VMFS_CPUID_1_EDX, 23, "mmx" },
	{ VMFS_CPUID_1_EDX, 24, "fxsr" }, { VMFS_CPUID_1_EDX, 25, "sse" },
	{ VMFS_CPUID_1_EDX, 26, "sse2" }, { VMFS_CPUID_1_EDX, 28, "ht" },
	{ VMFS_CPUID_1_ECX, 0, "pni" }, { VMFS_CPUID_1_ECX, 1, "pclmulqdq" },
	{ VMFS_CPUID_1_ECX, 5, "vmx" }, { VMFS_CPUID_1_ECX, 9, "ssse3" },
	{ VMFS_CPUID_1_ECX, 12, "fma" }, { VMFS_CPUID_1_ECX, 13, "cx16" },
	{ VMFS_CPUID_1_ECX, 17, "pcid" }, { VMFS_CPUID_1_ECX, 19, "sse4_1" },
	{ VMFS_CPUID_1_ECX, 20, "sse4_2" }, { VMFS_CPUID_1_ECX, 21, "x2apic" },
	{ VMFS_CPUID_1_ECX, 22, "movbe" }, { VMFS_CPUID_1_ECX, 23, "popcnt" },
	{ VMFS_CPUID_1_ECX, 24, "tsc_deadline_timer" }, { VMFS_CPUID_1_ECX, 25, "aes" },
	{ VMFS_CPUID_1_ECX, 26, "xsave" }, { VMFS_CPUID_1_ECX, 28, "avx" },
	{ VMFS_CPUID_1_ECX, 29, "f16c" }, { VMFS_CPUID_1_ECX, 30, "rdrand" },
	{ VMFS_CPUID_1_ECX, 31, "hypervisor" },
	{ VMFS_CPUID_7_EBX, 0, "fsgsbase" }, { VMFS_CPUID_7_EBX, 3, "bmi1" },
	{ VMFS_CPUID_7_EBX, 4, "hle" }, { VMFS_CPUID_7_EBX, 5, "avx2" },
	{ VMFS_CPUID_7_EBX, 7, "smep" }, { VMFS_CPUID_7_EBX, 8, "bmi2" },
	{ VMFS_CPUID_7_EBX, 9, "erms" }, { VMFS_CPUID_7_EBX, 10, "invpcid" },
	{ VMFS_CPUID_7_EBX, 11, "rtm" }, { VMFS_CPUID_7_EBX, 16, "avx512f" },
	{ VMFS_CPUID_7_EBX, 17, "avx512dq" }, { VMFS_CPUID_7_EBX, 18, "rdseed" },
	{ VMFS_CPUID_7_EBX, 19, "adx" }, { VMFS_CPUID_7_EBX, 20, "smap" },
	{ VMFS_CPUID_7_EBX, 21, "avx512ifma" }, { VMFS_CPUID_7_EBX, 23, "clflushopt" },
	{ VMFS_CPUID_7_EBX, 24, "clwb" }, { VMFS_CPUID_7_EBX, 28, "avx512cd" },
	{ VMFS_CPUID_7_EBX, 29, "sha_ni" }, { VMFS_CPUID_7_EBX, 30, "avx512bw" },
	{ VMFS_CPUID_7_EBX, 31, "avx512vl" },
	{ VMFS_CPUID_7_ECX, 1, "avx512vbmi" }, { VMFS_CPUID_7_ECX, 2, "umip" },
	{ VMFS_CPUID_7_ECX, 3, "pku" }, { VMFS_CPUID_7_ECX, 6, "avx512_vbmi2" },
	{ VMFS_CPUID_7_ECX, 8, "gfni" }, { VMFS_CPUID_7_ECX, 9, "vaes" },
	{ VMFS_CPUID_7_ECX, 10, "vpclmulqdq" }, { VMFS_CPUID_7_ECX, 11, "avx512_vnni" },
	{ VMFS_CPUID_7_ECX, 12, "avx512_bitalg" }, { VMFS_CPUID_7_ECX, 14, "avx512_vpopcntdq" },
	{ VMFS_CPUID_7_ECX, 22, "rdpid" },
	{ VMFS_CPUID_7_EDX, 4, "fsrm" }, { VMFS_CPUID_7_EDX, 10, "md_clear" },
	{ VMFS_CPUID_7_EDX, 26, "ibrs" }, { VMFS_CPUID_7_EDX, 27, "stibp" },
	{ VMFS_CPUID_7_EDX, 29, "arch_capabilities" }, { VMFS_CPUID_7_EDX, 31, "ssbd" },
	{ VMFS_CPUID_81_ECX, 0, "lahf_lm" }, { VMFS_CPUID_81_ECX, 2, "svm" },
	{ VMFS_CPUID_81_ECX, 5, "abm" }, { VMFS_CPUID_81_ECX, 6, "sse4a" },
	{ VMFS_CPUID_81_ECX, 8, "3dnowprefetch" }, { VMFS_CPUID_81_ECX, 16, "fma4" },
	{ VMFS_CPUID_81_EDX, 11, "syscall" }, { VMFS_CPUID_81_EDX, 20, "nx" },
	{ VMFS_CPUID_81_EDX, 26, "pdpe1gb" }, { VMFS_CPUID_81_EDX, 27, "rdtscp" },
	{ VMFS_CPUID_81_EDX, 29, "lm" },
	{ VMFS_CPUID_D0_EAX, 0, "xcr0.x87" }, { VMFS_CPUID_D0_EAX, 1, "xcr0.sse" },
	{ VMFS_CPUID_D0_EAX, 2, "xcr0.avx" }, { VMFS_CPUID_D0_EAX, 3, "xcr0.bndregs" },
	{ VMFS_CPUID_D0_EAX, 4, "xcr0.bndcsr" }, { VMFS_CPUID_D0_EAX, 5, "xcr0.opmask" },
	{ VMFS_CPUID_D0_EAX, 6, "xcr0.zmm_hi256" }, { VMFS_CPUID_D0_EAX, 7, "xcr0.hi16_zmm" },
	{ VMFS_CPUID_D0_EAX, 9, "xcr0.pkru" },
	{ VMFS_CPUID_D1_EAX, 0, "xsaveopt" }, { VMFS_CPUID_D1_EAX, 1, "xsavec" },
	{ VMFS_CPUID_D1_EAX, 2, "xgetbv1" }, { VMFS_CPUID_D1_EAX, 3, "xsaves" },
};

void vmfs_cpuid_read(struct vmfs_cpuid *c)
{
	unsigned a = 0, b = 0, d = 0, e = 0, max, xmax;
	unsigned fam, model;

	memset(c, 0, sizeof(*c));
	max = __get_cpuid_max(0, NULL);
	__cpuid(0, a, b, e, d);
	memcpy(c->vendor, &b, 4);
	memcpy(c->vendor + 4, &d, 4);
	memcpy(c->vendor + 8, &e, 4);
	if (max >= 1) {
		__cpuid(1, a, b, e, d);
		c->w[VMFS_CPUID_1_ECX] = e;
		c->w[VMFS_CPUID_1_EDX] = d;
		fam = (a >> 8) & 0xf;
		model = (a >> 4) & 0xf;
		if (fam == 0xf)
			fam += (a >> 20) & 0xff;
		if (fam == 0x6 || fam >= 0xf)
			model |= ((a >> 16) & 0xf) << 4;
		c->family = fam;
		c->model = model;
		c->stepping = a & 0xf;
	}
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, e, d);
		c->w[VMFS_CPUID_7_EBX] = b;
		c->w[VMFS_CPUID_7_ECX] = e;
		c->w[VMFS_CPUID_7_EDX] = d;
	}
	if (max >= 0xd) {
		__cpuid_count(0xd, 0, a, b, e, d);
		c->w[VMFS_CPUID_D0_EAX] = a;
		__cpuid_count(0xd, 1, a, b, e, d);
		c->w[VMFS_CPUID_D1_EAX] = a;
	}
	xmax = __get_cpuid_max(0x80000000, NULL);
	if (xmax >= 0x80000001) {
		__cpuid(0x80000001, a, b, e, d);
		c->w[VMFS_CPUID_81_ECX] = e;
		c->w[VMFS_CPUID_81_EDX] = d;
	}
	if (xmax >= 0x80000004) {
		unsigned r[12];

		for (unsigned i = 0; i < 3; i++)
			__cpuid(0x80000002 + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
		memcpy(c->brand, r, 48);
		for (size_t i = strlen(c->brand); i > 0 && c->brand[i - 1] == ' '; i--)
			c->brand[i - 1] = '\0';
		memmove(c->brand, c->brand + strspn(c->brand, " "), strlen(c->brand) + 1);
	}
}

const char *vmfs_cpuid_word_name(enum vmfs_cpuid_word w)
{
	return w < VMFS_CPUID_NWORDS ? word_names[w] : "?";
}

const char *vmfs_cpuid_feature(enum vmfs_cpuid_word w, unsigned b)
{
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
		if (feats[i].w == w && feats[i].bit == b)
			return feats[i].name;
	return NULL;
}

json_t *vmfs_cpuid_to_json(const struct vmfs_cpuid *c)
{
	json_t *words = json_object();

	for (int w = 0; words && w < VMFS_CPUID_NWORDS; w++)
		json_object_set_new(words, word_names[w], json_integer(c->w[w]));
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "vendor", c->vendor, "brand", c->brand,
			 "family", (json_int_t)c->family, "model", (json_int_t)c->model,
			 "stepping", (json_int_t)c->stepping, "words", words);
}

int vmfs_cpuid_from_json(json_t *j, struct vmfs_cpuid *c)
{
	const char *vendor = "", *brand = "";
	json_int_t fam = 0, model = 0, step = 0;
	json_t *words = NULL;

	memset(c, 0, sizeof(*c));
	if (json_unpack(j, "{s:s, s:s, s:I, s:I, s:I, s:o}", "vendor", &vendor, "brand", &brand,
			"family", &fam, "model", &model, "stepping", &step, "words", &words) < 0 ||
	    !json_is_object(words))
		return -EINVAL;
	snprintf(c->vendor, sizeof(c->vendor), "%s", vendor);
	snprintf(c->brand, sizeof(c->brand), "%s", brand);
	c->family = (uint32_t)fam;
	c->model = (uint32_t)model;
	c->stepping = (uint32_t)step;
	for (int w = 0; w < VMFS_CPUID_NWORDS; w++) {
		json_t *v = json_object_get(words, word_names[w]);

		if (!json_is_integer(v))
			return -EINVAL;
		c->w[w] = (uint32_t)json_integer_value(v);
	}
	return 0;
}

size_t vmfs_cpuid_missing(const struct vmfs_cpuid *src, const struct vmfs_cpuid *dst,
			  void (*fn)(const char *feature, void *arg), void *arg)
{
	size_t n = 0;

	for (int w = 0; w < VMFS_CPUID_NWORDS; w++) {
		uint32_t lack = src->w[w] & ~dst->w[w];

		for (unsigned b = 0; b < 32; b++) {
			const char *name;
			char buf[40];

			if (!(lack & (1u << b)))
				continue;
			/* hypervisor says where the source runs, not what a guest may use */
			if (w == VMFS_CPUID_1_ECX && b == 31)
				continue;
			name = vmfs_cpuid_feature((enum vmfs_cpuid_word)w, b);
			if (!name) {
				snprintf(buf, sizeof(buf), "%s bit %u", word_names[w], b);
				name = buf;
			}
			fn(name, arg);
			n++;
		}
	}
	return n;
}
