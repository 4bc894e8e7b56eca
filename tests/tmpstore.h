/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A store in a fresh temporary directory, for the unit tests that need one:
 *
 *	static char tmpdir[] = "/tmp/hoist-test-NAME-XXXXXX";
 *	store = tmpstore_open(tmpdir, NULL);
 *	if (!store)
 *		return tap_done();
 *	... tests ...
 *	tmpstore_close(store, tmpdir);
 *	return tap_done();
 */

#include <dirent.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/store.h"
#include "hoist/util.h"
#include "tap.h"

/* Remove PATH and everything below it. rm(1) does it: the tests need no tree
 * walker of their own, and a test's leftovers are no reason to fail it. */
static inline void tmpstore_rm_rf(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* Make the directory TMPL (a mkdtemp(3) template, rewritten in place) and
 * open a store in it, or in TMPL/SUB when SUB is not NULL. Without a
 * temporary directory the test cannot run: tap_skip_all. A store that does
 * not open is a failed check ("open store: ..."), TMPL is removed again and
 * the result is NULL. The caller owns the store: tmpstore_close. */
static inline struct hoist_store *tmpstore_open(char *tmpl, const char *sub)
{
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};

	if (!mkdtemp(tmpl))
		tap_skip_all("mkdtemp failed");
	_cleanup_free_ char *root = sub ? hoist_xasprintf("%s/%s", tmpl, sub) : NULL;
	if (hoist_store_open(root ? root : tmpl, &s, &err) < 0) {
		tap_ok(false, "open store: %s", err.msg);
		tmpstore_rm_rf(tmpl);
		return NULL;
	}
	return s;
}

/* Free S (may be NULL) and remove DIR, its temporary directory. */
static inline void tmpstore_close(struct hoist_store *s, const char *dir)
{
	hoist_store_free(s);
	tmpstore_rm_rf(dir);
}

/* Entries in DIR other than "." and "..", or -1 when it cannot be read. */
static inline int tmpstore_count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Temporary files left in ROOT/tmp: the leases themselves ("<id>.lease"
 * and their directories) are the store's bookkeeping, what is inside a
 * lease directory is a temporary file. */
static inline int tmpstore_count_tmp(const char *root)
{
	_cleanup_free_ char *tmp = hoist_xasprintf("%s/tmp", root);
	DIR *d = opendir(tmp);
	int n = 0;
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    hoist_endswith(de->d_name, ".lease"))
			continue;
		_cleanup_free_ char *lf = hoist_xasprintf("%s/%s.lease", tmp, de->d_name);
		if (access(lf, F_OK) == 0) {
			_cleanup_free_ char *sub = hoist_xasprintf("%s/%s", tmp, de->d_name);
			int k = tmpstore_count_dir(sub);
			n += k > 0 ? k : 0;
		} else {
			n++;
		}
	}
	closedir(d);
	return n;
}
