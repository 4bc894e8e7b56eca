/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the gzip reader and the unpacker's checks, in memory:
 * the input is a gzip stream (anything else is left to fuzz-tar). It is
 * read by hoist_tar_reader (zlib, CRC and ISIZE trailers checked, the
 * inflated-size and ratio limits applied) and walked by hoist_layer_unpack
 * with no root directory: every entry is classified by the whiteout rules
 * and checked against the tree so far, no file system call is made. The
 * entry hook reads each file's content to its end. Nothing is written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int entry(void *ctx, struct hoist_tar_reader *r, const struct hoist_entry *e,
		 enum hoist_whiteout kind, const char *target, struct hoist_error *err)
{
	char buf[4096];
	ssize_t n;

	(void)ctx;
	/* A whiteout or opaque marker names what it acts on; nothing else does. */
	if ((kind == HOIST_WHITEOUT_FILE || kind == HOIST_WHITEOUT_OPAQUE) != (target != NULL))
		abort();
	if (kind == HOIST_WHITEOUT_FILE && (!target[0] || target[0] == '/'))
		abort();
	if (e->path[0] == '/')
		abort();
	while ((n = hoist_tar_reader_read(r, buf, sizeof(buf), err)) > 0)
		;
	return n < 0 ? (int)n : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_unpack_ops ops = {.entry = entry};
	struct hoist_tar_reader *r = NULL;
	struct hoist_error err = {0};
	int fd;

	if (size < 2 || data[0] != 0x1f || data[1] != 0x8b)
		return 0;
	fd = memfd_create("fuzz-gzip", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (hoist_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		goto out;
	if (hoist_tar_reader_open(fd, "fuzz.tar.gz", &r, &err) < 0)
		goto out;
	hoist_tar_reader_set_max_entries(r, 10000);
	/* 64 MiB inflated at most: a bomb is refused, not written out. */
	hoist_tar_reader_set_max_size(r, (uint64_t)64 << 20);
	if (hoist_layer_unpack(r, -1, "fuzz.tar.gz", &ops, &err) < 0 && !err.msg[0])
		abort(); /* every refusal says why */
out:
	hoist_tar_reader_free(r);
	close(fd);
	return 0;
}
