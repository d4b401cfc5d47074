// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_vmfslock_name.c - how every CLI turns a path into a lock name (libvmfslock's
 * vmfslock_name): relative names pass, absolute paths under the mount point or the
 * datastore directory lose that prefix, anything else is refused with the exact code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/client/vmfslock.h"

static struct vmfs_conf conf(const char *mountpoint)
{
	struct vmfs_conf c;

	vmfs_conf_defaults(&c);
	strcpy(c.datastore, "/srv/nas/ds1");
	strcpy(c.mountpoint, mountpoint);
	return c;
}

static void expect_name(const struct vmfs_conf *c, const char *in, const char *want)
{
	char out[VMFSLOCK_NAME_MAX + 1];

	assert_int_equal(vmfslock_name(c, in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void expect_rc(const struct vmfs_conf *c, const char *in, int rc)
{
	char out[VMFSLOCK_NAME_MAX + 1] = "untouched";

	assert_int_equal(vmfslock_name(c, in, out, sizeof(out)), rc);
}

static void test_vmfslock_name_relative_is_the_name(void **st)
{
	struct vmfs_conf c = conf("/vmfs");

	(void)st;
	expect_name(&c, "vm1/disk.img", "vm1/disk.img");
	expect_name(&c, "./vm1/disk.img", "vm1/disk.img");
	expect_name(&c, "vm1/", "vm1");
	expect_name(&c, "vm1//", "vm1");
}

static void test_vmfslock_name_under_mountpoint_or_datastore(void **st)
{
	struct vmfs_conf c = conf("/vmfs");

	(void)st;
	expect_name(&c, "/vmfs/vm1/disk.img", "vm1/disk.img");
	expect_name(&c, "/srv/nas/ds1/vm1/disk.img", "vm1/disk.img");
	expect_name(&c, "/vmfs/vm1/", "vm1");
}

static void test_vmfslock_name_outside_refused(void **st)
{
	struct vmfs_conf c = conf("/vmfs");

	(void)st;
	expect_rc(&c, "/etc/passwd", -EXDEV);
	expect_rc(&c, "/vmfsX/vm1", -EXDEV);   /* a prefix that is not the directory */
	expect_rc(&c, "/vmfs", -EXDEV);        /* the mount point itself names nothing */
	expect_rc(&c, "/srv/nas/ds1", -EXDEV);
}

static void test_vmfslock_name_empty_or_too_long_refused(void **st)
{
	struct vmfs_conf c = conf("/vmfs");
	char longname[VMFSLOCK_NAME_MAX + 2];
	char out[VMFSLOCK_NAME_MAX + 1];

	(void)st;
	expect_rc(&c, "", -EINVAL);
	expect_rc(&c, "/vmfs/", -EINVAL);
	expect_rc(&c, "./", -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(vmfslock_name(&c, longname, out, sizeof(out)), -EINVAL);
}

static void test_vmfslock_name_root_mountpoint(void **st)
{
	struct vmfs_conf c = conf("/");

	(void)st;
	expect_name(&c, "/vm1/disk.img", "vm1/disk.img");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmfslock_name_relative_is_the_name),
		cmocka_unit_test(test_vmfslock_name_under_mountpoint_or_datastore),
		cmocka_unit_test(test_vmfslock_name_outside_refused),
		cmocka_unit_test(test_vmfslock_name_empty_or_too_long_refused),
		cmocka_unit_test(test_vmfslock_name_root_mountpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
