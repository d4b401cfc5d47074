// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_lock.c - `vmfsadm lock PATH -- COMMAND`: runs COMMAND while this host holds the
 * cluster lock on PATH, like flock(1). The lock belongs to vmfsadm's connection to
 * vmfs-lockd: if vmfsadm dies, the daemon releases it. If the lock is taken away while
 * COMMAND runs (this host fenced, or the lock recovered), COMMAND gets SIGTERM and
 * vmfsadm exits 70.
 *
 * A handoff of PATH (vmfs-handoff) drains it first: COMMAND's process group is stopped
 * (SIGSTOP: a write in progress ends first), the file is flushed, and vmfsadm answers;
 * if the commit then moves the lock, COMMAND gets SIGTERM as above, else SIGCONT.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/vmfsadm/live.h"

#define EXIT_LOST 70

static int parse_mode(const char *s, enum vmfslock_mode *m)
{
	if (!s || strcmp(s, "ex") == 0)
		*m = VMFSLOCK_EX;
	else if (strcmp(s, "sh") == 0)
		*m = VMFSLOCK_SH;
	else if (strcmp(s, "mw") == 0)
		*m = VMFSLOCK_MW;
	else
		return -EINVAL;
	return 0;
}

/* COMMAND (process group pid) stops writing name for handoff id: stopped, then the file
 * flushed, then the answer. */
static void drain(struct vmfslock *c, const char *name, pid_t pid, uint64_t id)
{
	char path[sizeof(vmfslock_conf(c)->datastore) + VMFSLOCK_NAME_MAX + 2];
	int fd;

	kill(-pid, SIGSTOP);
	snprintf(path, sizeof(path), "%s/%s", vmfslock_conf(c)->datastore, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		int rc = fdatasync(fd);

		close(fd);
		if (rc < 0) {
			fprintf(stderr, "vmfsadm lock: %s: flush for a handoff failed: %s; the commit "
				"fails\n", name, strerror(errno));
			return;
		}
	}
	if (vmfslock_drained(c, id, name) < 0)
		fprintf(stderr, "vmfsadm lock: %s: cannot tell vmfs-lockd the drain is done\n",
			name);
}

/* Waits for pid, or for the lock to be lost; true when it was lost (why says how). */
static bool wait_or_lost(struct vmfslock *c, const char *name, pid_t pid, int *status,
			 char *why, size_t len)
{
	int efd = vmfslock_event_fd(c), pfd = (int)syscall(SYS_pidfd_open, pid, 0);

	for (;;) {
		struct pollfd p[2] = { { .fd = efd, .events = POLLIN },
				       { .fd = pfd, .events = POLLIN } };
		struct vmfslock_event ev;
		int rc;

		if (waitpid(pid, status, WNOHANG) == pid)
			break;
		/* without a pidfd (old kernel) look at the child every 100 ms */
		if (poll(p, pfd >= 0 ? 2 : 1, pfd >= 0 ? -1 : 100) <= 0 || !(p[0].revents))
			continue;
		rc = vmfslock_event_next(c, &ev, 0);
		if (rc == -ETIMEDOUT || rc == -EPROTO)
			continue;
		if (rc < 0) {
			snprintf(why, len, "vmfs-lockd went away");
		} else if (ev.type == VMFSLOCK_EV_FENCED) {
			snprintf(why, len, "this host was fenced: %s", ev.text);
		} else if (ev.type == VMFSLOCK_EV_DRAIN && strcmp(ev.text, name) == 0) {
			drain(c, name, pid, ev.handoff);
			continue;
		} else if (ev.type == VMFSLOCK_EV_RESUME && strcmp(ev.text, name) == 0) {
			kill(-pid, SIGCONT);
			continue;
		} else if (ev.type == VMFSLOCK_EV_REVOKED && strcmp(ev.text, name) == 0) {
			snprintf(why, len, "the lock was taken away from this host");
			/* a host that fences itself revokes each lock first: the reason follows */
			while (vmfslock_event_next(c, &ev, 50) == 0)
				if (ev.type == VMFSLOCK_EV_FENCED) {
					snprintf(why, len, "this host was fenced: %s", ev.text);
					break;
				}
		} else {
			continue;
		}
		if (pfd >= 0)
			close(pfd);
		return true;
	}
	if (pfd >= 0)
		close(pfd);
	return false;
}

/* Runs argv until it exits; SIGTERM to it when the lock is lost. Its exit status. */
static int run(const struct cmd_entry *e, struct vmfslock *c, const char *name, char **argv)
{
	char why[700];
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		cmd_error(e, "fork: %s", strerror(errno));
		return CMD_EXIT_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0); /* its own group: a drain stops all of it */
		execvp(argv[0], argv);
		fprintf(stderr, "vmfsadm lock: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	if (!wait_or_lost(c, name, pid, &status, why, sizeof(why)))
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	cmd_error(e, "%s: lock lost (%s); stopping %s", name, why, argv[0]);
	kill(pid, SIGTERM);
	kill(-pid, SIGCONT); /* stopped by a drain: it must run to end */
	waitpid(pid, &status, 0);
	return EXIT_LOST;
}

static int lock_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	char name[VMFSLOCK_NAME_MAX + 1];
	struct vmfslock_holder holder;
	struct vmfslock_gen gen;
	enum vmfslock_mode mode;
	struct vmfslock *c;
	uint32_t wait_s = 0;
	char why[256] = "";
	int rc;

	if (parse_mode(a->opt['m'], &mode) < 0) {
		cmd_error(self, "--mode '%s': must be ex, sh or mw", a->opt['m']);
		return CMD_EXIT_USAGE;
	}
	if (a->opt['w'] && cmd_parse_u32(self, "--wait", a->opt['w'], 0, 86400, &wait_s) < 0)
		return CMD_EXIT_USAGE;
	rc = live_connect(self, a, &c);
	if (rc)
		return rc;
	if (live_name(self, c, a->argv[0], name, sizeof(name)) < 0) {
		vmfslock_close(c);
		return CMD_EXIT_USAGE;
	}
	rc = vmfslock_events_drain(c);
	if (!rc)
		rc = vmfslock_acquire_why(c, name, mode, wait_s * 1000, &gen, &holder, why,
					  sizeof(why));
	if (rc == -EBUSY && holder.local) {
		cmd_error(self, "%s is held by another process on this host (host %u) in mode %s",
			  name, holder.host, holder.mode);
		vmfslock_close(c);
		return LIVE_EXIT_TEMPFAIL;
	}
	if (rc == -EBUSY && !holder.mode[0]) {
		cmd_error(self, "%s: host %u%s%s%s holds a lock on a name above or below it", name,
			  holder.host, holder.name[0] ? " (" : "", holder.name,
			  holder.name[0] ? ")" : "");
		vmfslock_close(c);
		return LIVE_EXIT_TEMPFAIL;
	}
	if (rc == -EBUSY) {
		cmd_error(self, "%s is held by host %u%s%s%s in mode %s, generation %u:%llu", name,
			  holder.host, holder.name[0] ? " (" : "", holder.name,
			  holder.name[0] ? ")" : "", holder.mode, holder.gen.epoch,
			  (unsigned long long)holder.gen.counter);
		vmfslock_close(c);
		return LIVE_EXIT_TEMPFAIL;
	}
	if (rc == -EINVAL && why[0]) {
		cmd_error(self, "%s: %s", name, why);
		vmfslock_close(c);
		return CMD_EXIT_USAGE;
	}
	if (rc) {
		vmfslock_close(c);
		return live_fail(self, rc, name);
	}
	if (a->opt['v'])
		fprintf(stderr, "vmfsadm lock: %s held, generation %u:%llu\n", name, gen.epoch,
			(unsigned long long)gen.counter);
	rc = run(self, c, name, a->argv + 1);
	vmfslock_release(c, name);
	vmfslock_close(c);
	return rc;
}

static const struct option lock_longopts[] = {
	LIVE_CONFIG_OPT,
	{ "mode", required_argument, NULL, 'm' },
	{ "wait", required_argument, NULL, 'w' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

const struct cmd_entry cmd_lock_entry = {
	.name = "lock",
	.summary = "run a command while holding a cluster lock (like flock(1))",
	.usage = "[-c CONFIG] [--mode ex|sh|mw] [--wait SECONDS] PATH -- COMMAND [ARGS]",
	.help = LIVE_CONFIG_HELP
		"  -m, --mode MODE             ex (default), sh or mw\n"
		"  -w, --wait SECONDS          wait this long for a holder to let go (default 0)\n"
		"  -v, --verbose               say when the lock is held, and its generation\n",
	.notes = "Exit status: COMMAND's; 75 when PATH is held elsewhere (the holder is named);\n"
		 "69 without quorum or without vmfs-lockd; 77 without permission; 70 when the\n"
		 "lock was lost while COMMAND ran (it gets SIGTERM).\n",
	.optstring = "c:m:w:v",
	.longopts = lock_longopts,
	.min_args = 2,
	.max_args = 4096,
	.exec = lock_exec,
};
