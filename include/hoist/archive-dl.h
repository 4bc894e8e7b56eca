/* SPDX-License-Identifier: Apache-2.0 */
#ifndef HOIST_ARCHIVE_DL_H
#define HOIST_ARCHIVE_DL_H

/*
 * libarchive is loaded with dlopen() on first use (src/layer/archive-dl.c),
 * so a missing library shows up at run time, not when hoist starts.
 *
 * hoist_archive_load_error() loads it if that has not been tried yet and
 * returns NULL when it is usable, else a message saying which library could
 * not be loaded and why (static storage; never freed). Call it before
 * archive_read_new() or archive_write_new(): those return NULL when the
 * library is missing, which would otherwise read as out of memory.
 * Thread-safe.
 */
const char *hoist_archive_load_error(void);

#endif
