/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A full disk: the store lives on a 1 MiB tmpfs mounted in a private mount
 * namespace (as root directly, otherwise inside a user namespace). Writes
 * that do not fit fail with ENOSPC and leave the store exactly as it was:
 * no blob, no temp file, tags intact, and verify finds nothing wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/store.h"
#include "hoist/util.h"
#include "../tap.h"
#include "../tmpstore.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = hoist_write_all(fd, text, strlen(text));
	close(fd);
	return r;
}

static void enter_namespace(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (uid == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			tap_skip_all("cannot create a mount namespace");
	} else {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			tap_skip_all("cannot create a user and mount namespace "
				     "(unprivileged user namespaces disabled?)");
		(void)write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		if (write_file("/proc/self/uid_map", map) < 0)
			tap_skip_all("cannot write uid_map");
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		if (write_file("/proc/self/gid_map", map) < 0)
			tap_skip_all("cannot write gid_map");
	}
	/* Keep our tmpfs from propagating to the parent namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		tap_skip_all("cannot make the mount tree private");
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int main(void)
{
	char mnt[] = "/tmp/hoist-test-full-XXXXXX";
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};
	char d[HOIST_DIGEST_MAX], small[HOIST_DIGEST_MAX], got[HOIST_DIGEST_MAX];
	int r;

	tap_plan_auto();
	if (!mkdtemp(mnt))
		tap_skip_all("cannot create a temporary directory");
	enter_namespace();
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0755") < 0) {
		rmdir(mnt);
		tap_skip_all("cannot mount a tmpfs");
	}
	char *root = hoist_xasprintf("%s/store", mnt);
	char *tmpdir = hoist_xasprintf("%s/tmp", root);
	char *blobdir = hoist_xasprintf("%s/blobs/sha256", root);
	r = hoist_store_open(root, &s, &err);
	tap_ok(r == 0, "store on a 1 MiB tmpfs");
	if (r < 0)
		goto out;

	/* a blob bigger than the filesystem */
	size_t big = 2 << 20;
	char *data = hoist_xcalloc(1, big);
	memset(data, 'x', big);
	r = hoist_store_blob_put(s, data, big, d, &err);
	tap_ok(r == -ENOSPC, "blob_put of 2 MiB fails with ENOSPC (%d: %s)", r, err.msg);
	tap_ok(strstr(err.msg, "No space left") != NULL, "the message says why: %s", err.msg);
	tap_ok(tmpstore_count_tmp(root) == 0, "no temp file left");
	tap_ok(count_entries(blobdir) == 0, "no blob left");

	/* the streaming writer: abort after the failing write */
	struct hoist_blob_writer *w = NULL;
	r = hoist_store_blob_begin(s, &w, &err);
	int wr = 0;
	for (int i = 0; i < 64 && wr == 0; i++)
		wr = hoist_blob_writer_write(w, data, 65536, &err);
	hoist_blob_writer_abort(w);
	tap_ok(r == 0 && wr == -ENOSPC, "streaming write fails with ENOSPC");
	tap_ok(tmpstore_count_tmp(root) == 0 && count_entries(blobdir) == 0,
	       "abort after ENOSPC leaves nothing");

	/* the store still works, and a full disk does not tear tags.json */
	r = hoist_store_blob_put(s, "{}", 2, small, &err);
	tap_ok(r == 0, "a small blob still fits");
	r = hoist_store_tag_set(s, "before", small, &err);
	tap_ok(r == 0, "tag_set works");
	char *filler = hoist_xasprintf("%s/filler", mnt);
	int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	while (fd >= 0 && write(fd, data, 4096) > 0)
		;
	/* tmpfs may still take a partial page; fill it to the last byte */
	while (fd >= 0 && write(fd, data, 1) > 0)
		;
	close(fd);
	hoist_error_clear(&err);
	r = hoist_store_tag_set(s, "after-the-disk-filled-up-with-a-long-name", small, &err);
	tap_ok(r == -ENOSPC, "tag_set on a full disk fails with ENOSPC (%d: %s)", r, err.msg);
	r = hoist_store_tag_get(s, "before", got, &err);
	tap_ok(r == 0 && strcmp(got, small) == 0, "the earlier tag is intact");
	r = hoist_store_tag_get(s, "after-the-disk-filled-up-with-a-long-name", got, &err);
	tap_ok(r == -ENOENT, "the failed tag is not there");
	r = hoist_store_cache_put(s, small, "{\"digest\":\"x\"}", &err);
	tap_ok(r == -ENOSPC, "cache_put on a full disk fails with ENOSPC (%d)", r);
	tap_ok(tmpstore_count_tmp(root) == 0, "no temp file left after the failed updates");
	unlink(filler);
	free(filler);

	struct hoist_buf rep = HOIST_BUF_INIT;
	r = hoist_store_verify(s, &rep, &err);
	tap_ok(r == 0, "the store verifies clean afterwards%s%s", rep.data ? ": " : "",
	       rep.data ? rep.data : "");
	hoist_buf_release(&rep);
	free(data);
	hoist_store_free(s);
out:
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	free(root);
	free(tmpdir);
	free(blobdir);
	return tap_done();
}
