/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the unpacker's file system side (hoist_layer_unpack with
 * a root directory, src/layer/unpack.c): the input is a layer (any
 * compression), unpacked with modes, fifos, xattrs and times (no
 * ownership, no devices) into BASE/root, a fresh directory per input.
 * BASE (on /dev/shm when it exists, else /tmp) also holds a sentinel file
 * and a sentinel directory beside the root: after every input both must be
 * intact and BASE must hold nothing else, or the layer reached outside its
 * root (traversal, a symlink or hard link planted by an earlier entry, a
 * whiteout naming ".."): abort. Campaigns run it as an unprivileged user
 * (docs/fuzzing.md), so that a real escape could not reach the host's
 * files; the replay runs only the committed seeds.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_shm[] = "/dev/shm/hoist-fuzz-unpack-XXXXXX";
static char base_tmp[] = "/tmp/hoist-fuzz-unpack-XXXXXX";
static char *base;
static int basefd = -1;
static const char sentinel[] = "sentinel: nothing may change this file\n";

static void cleanup(void)
{
	hoist_rm_rf_at(AT_FDCWD, base);
}

static void setup(void)
{
	base = mkdtemp(base_shm);
	if (!base)
		base = mkdtemp(base_tmp);
	if (!base)
		abort();
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = openat(basefd, "sentinel", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (basefd < 0 || fd < 0 || hoist_write_all(fd, sentinel, strlen(sentinel)) < 0)
		abort();
	close(fd);
	if (mkdirat(basefd, "sentinel.d", 0755) < 0 ||
	    (fd = openat(basefd, "sentinel.d/file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			 0644)) < 0)
		abort();
	close(fd);
	atexit(cleanup);
}

/* BASE holds root (maybe), sentinel and sentinel.d/file, all unchanged. */
static void check_outside(void)
{
	char buf[sizeof(sentinel) + 16];
	struct stat st;
	int fd = openat(basefd, "sentinel", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

	if (fd < 0 || n != (ssize_t)strlen(sentinel) || memcmp(buf, sentinel, (size_t)n) != 0)
		abort();
	/* a hard link into the root would raise the link count */
	if (fstat(fd, &st) < 0 || st.st_nlink != 1 || (st.st_mode & 07777) != 0644)
		abort();
	close(fd);
	if (fstatat(basefd, "sentinel.d/file", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size != 0 || st.st_nlink != 1)
		abort();
	DIR *d = fdopendir(dup(basefd));
	struct dirent *de;
	if (!d)
		abort();
	rewinddir(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "root") && strcmp(de->d_name, "sentinel") &&
		    strcmp(de->d_name, "sentinel.d"))
			abort(); /* something was made beside the root */
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_unpack_ops ops = {
	    .flags = HOIST_UNPACK_EXACT_MODES | HOIST_UNPACK_FIFOS | HOIST_UNPACK_XATTRS |
		     HOIST_UNPACK_ALL_TIMES,
	};
	struct hoist_tar_reader *r = NULL;
	struct hoist_error err = {0};
	int fd, rootfd = -1;

	if (!base)
		setup();
	fd = memfd_create("fuzz-unpack", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (hoist_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	if (mkdirat(basefd, "root", 0755) < 0 ||
	    (rootfd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	if (hoist_tar_reader_open(fd, "fuzz.tar", &r, &err) == 0) {
		hoist_tar_reader_set_max_entries(r, 1000);
		hoist_tar_reader_set_max_size(r, (uint64_t)16 << 20);
		if (hoist_layer_unpack(r, rootfd, "fuzz.tar", &ops, &err) < 0 && !err.msg[0])
			abort(); /* every refusal says why */
	}
	hoist_tar_reader_free(r);
	close(fd);
	close(rootfd);
	check_outside();
	if (hoist_rm_rf_at(basefd, "root") < 0)
		abort();
	return 0;
}
