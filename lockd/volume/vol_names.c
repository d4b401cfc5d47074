// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vol_names.c - the words admins read for lock volume values: decode results (a sentence
 * and a short name for scripts), heartbeat states, lock table entry states, journal
 * record types, and the printed form of UUIDs.
 */
#include <stdio.h>

#include "lockd/volume/vol.h"

const char *vol_strerror(int err)
{
	switch (err) {
	case 0:
		return "valid";
	case VOL_EZERO:
		return "sector is all zeroes: never written, or the volume was truncated";
	case VOL_EMAGIC:
		return "not a vmfs sector (bad magic)";
	case VOL_EMAJOR:
		return "written by a newer or unknown major format version";
	case VOL_ETYPE:
		return "a vmfs sector of another kind than this index should hold";
	case VOL_EINDEX:
		return "sector carries another index: misplaced or stale copy";
	case VOL_EUUID:
		return "sector belongs to another datastore (uuid mismatch)";
	case VOL_ECRC:
		return "checksum mismatch: torn or corrupt sector";
	case VOL_EFIELD:
		return "checksum fine but a field is out of range";
	}
	return "unknown lock volume error";
}

const char *vol_err_name(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case VOL_EZERO:
		return "zero";
	case VOL_EMAGIC:
		return "magic";
	case VOL_EMAJOR:
		return "major";
	case VOL_ETYPE:
		return "type";
	case VOL_EINDEX:
		return "index";
	case VOL_EUUID:
		return "uuid";
	case VOL_ECRC:
		return "crc";
	case VOL_EFIELD:
		return "field";
	}
	return "unknown";
}

const char *vol_hb_state_name(enum vol_hb_state s)
{
	switch (s) {
	case VOL_HB_UNUSED:
		return "unused";
	case VOL_HB_LIVE:
		return "live";
	case VOL_HB_CLEAN:
		return "clean";
	case VOL_HB_FENCED:
		return "fenced";
	}
	return "?";
}

const char *vol_entry_state_name(enum vol_entry_state s)
{
	switch (s) {
	case VOL_E_FREE:
		return "free";
	case VOL_E_INTENT:
		return "intent";
	case VOL_E_HELD:
		return "held";
	case VOL_E_HANDOFF_OUT:
		return "handoff-out";
	case VOL_E_HANDOFF_IN:
		return "handoff-in";
	}
	return "?";
}

const char *vol_jrec_type_name(enum vol_jrec_type t)
{
	switch (t) {
	case VOL_J_NONE:
		return "none";
	case VOL_J_HANDOFF:
		return "handoff";
	case VOL_J_RECOVERY:
		return "recovery";
	}
	return "?";
}

void vol_uuid_str(const uint8_t uuid[16], char out[VOL_UUID_STR_LEN])
{
	char *p = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", uuid[i]);
	}
}
