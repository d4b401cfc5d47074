/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_lease.h - the two sides of the disk lease, as pure functions of a monotonic time
 * passed in: this host's own lease (renewals -> deadline -> may it write?) and an
 * observer's judgement of another host's heartbeat (counter unchanged for host_dead).
 * The formulas and their justification are in lk_timing.h.
 */
#ifndef VMFS_LK_LEASE_H
#define VMFS_LK_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "lockd/core/lk_timing.h"

/* This host's lease. Zeroed = no lease yet. */
struct lk_lease {
	bool valid;
	int64_t t_s;      /* start of the last renewal that succeeded */
	int64_t deadline; /* lk_deadline(t_s) */
};

/* A renewal that started at `started` succeeded; an older one never moves t_s back. */
void lk_lease_renewed(struct lk_lease *l, const struct lk_timing *t, int64_t started);
/* May a write be issued at now? False without a lease. */
bool lk_lease_admits(const struct lk_lease *l, const struct lk_timing *t, int64_t now);
/* Has the lease run out (self-fence) at now? False while no lease was ever held. */
bool lk_lease_expired(const struct lk_lease *l, int64_t now);

/* An observer's view of one host's heartbeat. Zeroed = nothing seen yet. */
struct lk_observer {
	bool seen;
	uint64_t host_gen, counter;
	int64_t first_seen; /* completion of the read that first returned (host_gen, counter) */
};

/*
 * Feeds one heartbeat read that completed at now. Returns true when the host is dead:
 * the same (host_gen, counter) has been seen for host_dead since first_seen.
 */
bool lk_observe(struct lk_observer *o, const struct lk_timing *t, uint64_t host_gen,
		uint64_t counter, int64_t now);

#endif
