/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkd_main.c - vmfs-lockd: options, configuration, the checks before anything is
 * written, the main loop, signals and clean shutdown. See vmfs-lockd(8).
 *
 * Start-up refuses, with one line naming what is wrong, when: vmfs.conf is bad; another
 * vmfs-lockd uses the same run_dir; corosync is not running or its token timeout is too
 * long for host_dead; the datastore has no lock volume or belongs to another cluster;
 * this host's node id has no slot; its heartbeat slot is being renewed by someone else
 * (two hosts configured with one node id).
 *
 * Clean shutdown (SIGTERM, SIGINT): every client hold is released (persisted free, then
 * multicast), the group is left, and the heartbeat is marked clean so the others need
 * not wait for the lease to expire. If releasing takes longer than 2 * host_dead, the
 * daemon leaves anyway and the others recover what it still held.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "lockd/cluster/lkc.h"
#include "lockd/daemon/lkd.h"
#include "lockd/ipc/lki.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_CONFIG 78
#define IO_THREADS 4

int64_t lkd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t lkd_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vmfs-lockd [-f] [-c CONFIG]\n"
		"The vmfs lock daemon: one per host, beside corosync.\n\n"
		"  -f, --foreground   do not go to the background; log to stderr as well\n"
		"  -c, --config FILE  configuration (default: $VMFS_CONFIG, else %s)\n"
		"  -h, --help         this text\n\n"
		"Signals: TERM/INT release every lock and stop; USR1 writes the log blackbox\n"
		"to RUN_DIR/vmfs-lockd.blackbox. See vmfs-lockd(8) and vmfs.conf(5).\n",
		VMFS_CONF_DEFAULT_PATH);
}

static void setup_logging(const struct lkd *d)
{
	qb_log_init("vmfs-lockd", LOG_DAEMON, d->conf.log_level);
	qb_log_filter_ctl(QB_LOG_SYSLOG, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
			  d->conf.log_level);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_TRUE);
	if (d->foreground) {
		qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
				  d->conf.log_level);
		qb_log_format_set(QB_LOG_STDERR, "%t %p: %b");
		qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	}
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, 1024 * 1024);
	qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
}

/* A start-up refusal: logged, and on stderr even without -f (nobody may read syslog). */
static int refuse(const struct lkd *d, int code, const char *err)
{
	qb_log(LOG_ERR, "%s", err);
	if (!d->foreground)
		fprintf(stderr, "vmfs-lockd: %s\n", err);
	return code;
}

/* The log blackbox, and the agent's holds, table slots and sectors beside it. */
static void write_blackbox(const struct lkd *d)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vmfs-lockd.blackbox", d->conf.run_dir);
	qb_log_blackbox_write_to_file(path);
	qb_log(LOG_NOTICE, "blackbox written to %s (read it with qb-blackbox)", path);
	snprintf(path, sizeof(path), "%s/vmfs-lockd.agent", d->conf.run_dir);
	f = d->agent ? fopen(path, "w") : NULL;
	if (f) {
		lk_agent_dump(d->agent, f);
		fclose(f);
		qb_log(LOG_NOTICE, "agent state written to %s", path);
	}
}

/* The pid file, locked: a second vmfs-lockd on the same run_dir is refused. */
static int pidfile(const struct lkd *d, char *err, size_t errlen)
{
	char path[4200], buf[32];
	int fd;

	if (mkdir(d->conf.run_dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create run_dir %s: %s", d->conf.run_dir,
			 strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/vmfs-lockd.pid", d->conf.run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		snprintf(err, errlen, "another vmfs-lockd (pid %s) already uses run_dir %s",
			 buf[0] ? buf : "?", d->conf.run_dir);
		close(fd);
		return -EEXIST;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

		if (write(fd, buf, (size_t)n) != n)
			qb_log(LOG_WARNING, "cannot write %s", path);
	}
	return fd; /* kept open (and locked) until exit */
}

static int read_hb(struct lkd *d, struct vol_heartbeat *hb)
{
	const struct vol_geom *g = &d->vol.super.geom;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, 1);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = d->vol.dev.ops->read(&d->vol.dev, vol_hb_index(g, d->host), 1, buf);
	if (!rc)
		rc = vol_decode_heartbeat(g, vol_hb_index(g, d->host), buf, hb) ? -EBADMSG : 0;
	free(buf);
	return rc;
}

/* Without -f: into the background once every check passed (before any thread starts);
 * the pid file, still locked, gets the daemon's pid. */
static int daemonize(const struct lkd *d, int pidfd)
{
	char buf[32];
	int n;

	(void)d;
	if (daemon(0, 0) < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(pidfd, 0) < 0 || pwrite(pidfd, buf, (size_t)n, 0) != n)
		qb_log(LOG_WARNING, "cannot rewrite the pid file");
	return 0;
}

/* Is someone else renewing our heartbeat slot? Watched for two of its intervals.
 * 0: nobody (or it was not live), 1: unreadable, -EADDRINUSE with err: someone is. */
static int slot_check(struct lkd *d, char *err, size_t errlen)
{
	struct vol_heartbeat a, b;
	uint32_t wait_ms;

	if (read_hb(d, &a) < 0)
		return 1; /* unknown: the previous incarnation is not vouched for */
	if (a.state != VOL_HB_LIVE)
		return 0;
	wait_ms = 2 * (a.hb_interval_ms ? a.hb_interval_ms : d->timing.hb_interval_ms) +
		  d->timing.io_timeout_ms;
	qb_log(LOG_INFO, "heartbeat slot %u was left live (generation %" PRIu64 "): watching it "
	       "for %u ms", d->host, a.host_gen, wait_ms);
	usleep(wait_ms * 1000u);
	if (read_hb(d, &b) == 0 && (b.host_gen != a.host_gen || b.counter != a.counter)) {
		snprintf(err, errlen, "heartbeat slot of host %u on %s is being renewed by another "
			 "process (hostname '%s', generation %" PRIu64 "): are two hosts configured "
			 "with nodeid %u?", d->host, d->vol.dev.path, b.hostname, b.host_gen, d->host);
		return -EADDRINUSE;
	}
	return 0;
}

/* Everything checked before the daemon writes a byte. Returns an exit code or 0. */
static int prepare(struct lkd *d, char *err, size_t errlen)
{
	char uuid[VOL_UUID_STR_LEN];
	int rc;

	rc = lkc_cluster_name(d->cluster, sizeof(d->cluster), err, errlen);
	if (rc == -ENOENT)
		return EX_CONFIG;
	if (!rc)
		rc = lkc_token_ms(&d->token_ms, err, errlen);
	if (!rc)
		rc = lkc_local_nodeid(&d->host, err, errlen);
	if (rc < 0)
		return EX_UNAVAILABLE;
	if (d->timing.host_dead_ms <= d->token_ms + d->timing.io_timeout_ms) {
		snprintf(err, errlen, "%s: host_dead_ms %u must exceed corosync's token timeout "
			 "(%u ms) + io_timeout_ms (%u): a coordinator's fencing write could land after "
			 "the next one's", d->conf.path, d->timing.host_dead_ms, d->token_ms,
			 d->timing.io_timeout_ms);
		return EX_CONFIG;
	}
	rc = vol_open(d->conf.datastore, true, &d->vol, err, errlen);
	if (rc < 0)
		return EX_UNAVAILABLE;
	vol_uuid_str(d->vol.super.geom.uuid, uuid);
	if (strcmp(d->vol.super.cluster, d->cluster) != 0) {
		snprintf(err, errlen, "datastore %s (volume %s) belongs to cluster '%s', but corosync's "
			 "cluster_name is '%s': refusing to start (is a second cluster pointed at the "
			 "same storage?)", d->conf.datastore, uuid, d->vol.super.cluster, d->cluster);
		return EX_CONFIG;
	}
	if (!d->host || d->host > d->vol.super.geom.max_hosts) {
		snprintf(err, errlen, "corosync node id %u has no slot on %s: the volume has %u host "
			 "slots (nodeids 1..%u)", d->host, d->vol.dev.path, d->vol.super.geom.max_hosts,
			 d->vol.super.geom.max_hosts);
		return EX_CONFIG;
	}
	if (d->vol.super.hb_interval_ms != d->timing.hb_interval_ms ||
	    d->vol.super.host_dead_ms != d->timing.host_dead_ms ||
	    d->vol.super.io_timeout_ms != d->timing.io_timeout_ms)
		qb_log(LOG_WARNING, "timing differs from the datastore's (hb_interval %u/%u ms, "
		       "host_dead %u/%u ms, io_timeout %u/%u ms: ours/superblock); observers use the "
		       "larger host_dead", d->timing.hb_interval_ms, d->vol.super.hb_interval_ms,
		       d->timing.host_dead_ms, d->vol.super.host_dead_ms, d->timing.io_timeout_ms,
		       d->vol.super.io_timeout_ms);
	snprintf(d->group, sizeof(d->group), "vmfs-%s", uuid);
	vmfs_cpuid_read(&d->cpuid);
	lkc_node_name(d->host, d->hostname, sizeof(d->hostname));
	if (!d->hostname[0] && gethostname(d->hostname, sizeof(d->hostname) - 1) < 0)
		snprintf(d->hostname, sizeof(d->hostname), "host%u", d->host);
	if (getrandom(d->host_uuid, sizeof(d->host_uuid), 0) != sizeof(d->host_uuid))
		memset(d->host_uuid, 0, sizeof(d->host_uuid));
	rc = slot_check(d, err, errlen);
	if (rc < 0)
		return EX_CONFIG;
	/* Our pid file lock says no other lockd of this host runs; a slot left live was
	 * watched for longer than io_timeout: what it issued has landed. */
	d->prev_gone = rc == 0;
	d->prev_quiet_at = lkd_now();
	qb_log(LOG_NOTICE, "host %u (%s) of cluster '%s', datastore %s (%s), token %u ms",
	       d->host, d->hostname, d->cluster, d->conf.datastore, uuid, d->token_ms);
	return 0;
}

/* --- shutdown ------------------------------------------------------------------------ */

static qb_loop_timer_handle stop_timer;

static void finish(struct lkd *d)
{
	size_t held = lkd_run_held(d);
	bool had_agent = d->agent != NULL;
	int rc;

	lkd_run_stop(d);
	lkd_io_stop(d->io);
	d->io = NULL;
	if (had_agent && !held) {
		rc = lkd_run_mark_clean(d);
		if (rc == 0)
			qb_log(LOG_NOTICE, "heartbeat marked clean: nothing held");
		else if (rc != -ESTALE)
			qb_log(LOG_ERR, "cannot mark the heartbeat clean: %s", strerror(-rc));
	} else if (held) {
		qb_log(LOG_WARNING, "stopping with %zu lock(s) still held: the others recover them "
		       "once this host's lease has expired", held);
	}
	qb_loop_stop(d->loop);
}

static void stop_poll(void *data)
{
	struct lkd *d = data;

	if (!d->agent || !lkd_run_held(d) || lkd_now() >= d->stop_deadline) {
		finish(d);
		return;
	}
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, 20 * 1000000ull, d, stop_poll, &stop_timer);
}

static int32_t on_signal(int32_t sig, void *data)
{
	struct lkd *d = data;

	if (sig == SIGUSR1) {
		write_blackbox(d);
		return 0;
	}
	if (sig == SIGHUP) {
		qb_log(LOG_NOTICE, "SIGHUP ignored: vmfs.conf is read at start only; restart to "
		       "apply changes");
		return 0;
	}
	if (d->stopping)
		return 0;
	qb_log(LOG_NOTICE, "signal %d: releasing every lock, then stopping", sig);
	d->stopping = true;
	d->stop_deadline = lkd_now() + 2 * (int64_t)d->timing.host_dead_ms;
	lki_stopping(d->ipc, "vmfs-lockd is stopping: every lock of this host is being released");
	stop_poll(d);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lkd *d = calloc(1, sizeof(*d));
	const char *config = NULL;
	char err[VMFS_CONF_ERR_MAX + 512];
	qb_loop_signal_handle sh;
	int opt, rc, pidfd;

	if (!d)
		return EX_SOFTWARE;
	while ((opt = getopt_long(argc, argv, "fc:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			d->foreground = true;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmfs-lockd: unexpected argument '%s'\n", argv[optind]);
		return EX_USAGE;
	}
	if (vmfs_conf_load(vmfs_conf_path(config), &d->conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmfs-lockd: %s\n", err);
		return EX_CONFIG;
	}
	d->timing = (struct lk_timing){ d->conf.hb_interval_ms, d->conf.host_dead_ms,
					d->conf.io_timeout_ms };
	setup_logging(d);
	signal(SIGPIPE, SIG_IGN);
	pidfd = pidfile(d, err, sizeof(err));
	if (pidfd < 0)
		return refuse(d, EX_UNAVAILABLE, err);
	rc = prepare(d, err, sizeof(err));
	if (rc)
		return refuse(d, rc, err);
	if (!d->foreground && daemonize(d, pidfd) < 0)
		return refuse(d, EX_SOFTWARE, "cannot go to the background");
	d->loop = qb_loop_create();
	d->io = d->loop ? lkd_io_start(d, IO_THREADS) : NULL;
	if (!d->io) {
		qb_log(LOG_ERR, "cannot start the main loop or the disk executor");
		return EX_SOFTWARE;
	}
	d->ipc = lki_start(d, err, sizeof(err));
	if (!d->ipc)
		return refuse(d, EX_UNAVAILABLE, err);
	if (lkd_run_start(d, err, sizeof(err)) < 0)
		return refuse(d, EX_UNAVAILABLE, err);
	qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGTERM, d, on_signal, &sh);
	qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGINT, d, on_signal, &sh);
	qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGUSR1, d, on_signal, &sh);
	qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGHUP, d, on_signal, &sh);
	lkd_io_scan(d->io);
	lkd_run_tick_start(d);
	qb_loop_run(d->loop);

	lki_stop(d->ipc);
	vol_close(&d->vol);
	qb_loop_destroy(d->loop);
	qb_log(LOG_NOTICE, "stopped");
	qb_log_fini();
	close(pidfd);
	rc = d->exit_code;
	free(d);
	return rc;
}
