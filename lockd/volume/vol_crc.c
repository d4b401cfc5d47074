// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vol_crc.c - CRC32C (Castagnoli), the checksum of every lock volume sector, through
 * ISA-L's crc32_iscsi(), which uses the SSE4.2 crc32 instruction when the CPU has it and
 * a table otherwise. ISA-L leaves the initial value and the final inversion to the
 * caller; the standard convention (init ~0, final ~) gives CRC32C("123456789") =
 * 0xe3069283, which the unit tests check.
 */
#include <limits.h>

#include <isa-l/crc.h>

#include "lockd/volume/vol.h"

uint32_t vol_crc32c(const void *buf, size_t len)
{
	/* crc32_iscsi() takes a non-const pointer and an int length; it only reads. */
	unsigned char *p = (unsigned char *)buf;
	uint32_t crc = 0xffffffffu;

	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		crc = crc32_iscsi(p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return ~crc;
}
