/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The tar format, private to src/layer: the 512-byte header, its numeric
 * fields and PAX extended records, written and read without libarchive.
 *
 * Names are bytes. A Linux file name is any byte string without '/' or NUL,
 * in no particular encoding; a layer must carry it unchanged. libarchive
 * converts names between the process locale and UTF-8 and fails (or writes
 * '?') when a name is not valid in one of them, which is why hoist encodes
 * and decodes headers itself. The layout follows Go's archive/tar as
 * BuildKit and containerd use it: a ustar header, preceded by a PAX 'x'
 * header whose "path"/"linkpath" records hold the raw bytes whenever a name
 * is not ASCII or does not fit its field, and "uid", "gid", "size", "mtime"
 * when a number does not fit; xattrs are "SCHILY.xattr.<name>" records. No
 * "hdrcharset" record is written: readers (Go, libarchive in binary mode,
 * hoist) take the bytes as they are.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/layer.h"

#define TAR_BLOCK 512
/* Bound on one PAX extended header or GNU long name: Go's
 * maxSpecialFileSize, also containerd's. */
#define TAR_MAX_SPECIAL (1u << 20)

/*
 * Encode the header block(s) of e into buf (at least tar_header_max(e)
 * bytes): an optional PAX header with its records, then the ustar header.
 * Directories get a trailing '/' as every tar writer gives them. mtime is
 * the value to record. Returns the number of bytes written (a multiple of
 * TAR_BLOCK).
 */
size_t tar_header_max(const struct hoist_entry *e);
size_t tar_header_encode(const struct hoist_entry *e, int64_t mtime, unsigned char *buf);

/* What a header block says, before PAX records and GNU long names apply. */
struct tar_raw {
	char typeflag;
	char name[257]; /* prefix "/" name for POSIX ustar, NUL-terminated */
	char linkname[101];
	uint32_t mode;
	int64_t uid, gid, size, mtime;
	uint32_t devmajor, devminor;
};

/*
 * Parse one header block. Returns 1 for a header, 0 for an all-zero block,
 * -EBADMSG (with msg set to a static reason) for a block that is not a
 * header (bad checksum, bad number).
 */
int tar_header_decode(const unsigned char blk[TAR_BLOCK], struct tar_raw *out, const char **msg);

/* Records of a PAX extended header that hoist acts on. */
struct tar_pax {
	char *path, *linkpath; /* NULL when absent */
	bool has_size, has_uid, has_gid, has_mtime;
	int64_t size, uid, gid, mtime;
	bool sparse; /* any GNU.sparse.* record */
	struct hoist_xattr *xattrs;
	size_t n_xattrs;
};

void tar_pax_release(struct tar_pax *p);

/*
 * Parse the records of a PAX extended header (len bytes) into p, which may
 * hold records from an earlier header (a later record wins). Unknown keys
 * are ignored, as Go and libarchive do. Returns 0, or -EBADMSG / -E2BIG
 * with msg set to a static reason.
 */
int tar_pax_parse(const char *data, size_t len, struct tar_pax *p, const char **msg);
