/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of libarchive's API hoist calls, loaded with dlopen() on first
 * use (the pattern of src/registry/curl-dl.c).
 *
 * Why: Debian's libarchive links libxml2, which brings ICU (with its 30 MB
 * data library) and libstdc++; mapping and relocating them cost every hoist
 * process about 10 ms at start-up, while a cached build, run or inspect
 * never writes or reads a tar. hoist links this file instead of -larchive;
 * the first call loads libarchive.so.13 and resolves every function at
 * once.
 *
 * When libarchive cannot be loaded, the constructors (archive_read_new,
 * archive_write_new, archive_entry_new) return NULL, as libarchive's own do
 * when out of memory. Callers ask hoist_archive_load_error() first, so the
 * user is told which library is missing instead of seeing an abort.
 * Functions that take a handle are never reached without one.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hoist/archive-dl.h"

#define LIBARCHIVE_SONAME "libarchive.so.13"

static struct {
	/* struct archive */
	const char *(*error_string)(struct archive *);
	void (*set_error)(struct archive *, int, const char *, ...);
	struct archive *(*read_new)(void);
	int (*read_free)(struct archive *);
	int (*read_support_filter_all)(struct archive *);
	int (*read_support_format_empty)(struct archive *);
	int (*read_support_format_raw)(struct archive *);
	int (*read_support_format_tar)(struct archive *);
	int (*read_open2)(struct archive *, void *, archive_open_callback *,
			  archive_read_callback *, archive_skip_callback *,
			  archive_close_callback *);
	int (*read_next_header)(struct archive *, struct archive_entry **);
	la_ssize_t (*read_data)(struct archive *, void *, size_t);
	struct archive *(*write_new)(void);
	int (*write_free)(struct archive *);
	int (*write_add_filter)(struct archive *, int);
	int (*write_add_filter_none)(struct archive *);
	int (*write_set_format_pax_restricted)(struct archive *);
	int (*write_set_format_option)(struct archive *, const char *, const char *, const char *);
	int (*write_set_bytes_per_block)(struct archive *, int);
	int (*write_set_bytes_in_last_block)(struct archive *, int);
	int (*write_open2)(struct archive *, void *, archive_open_callback *,
			   archive_write_callback *, archive_close_callback *,
			   archive_free_callback *);
	int (*write_open_memory)(struct archive *, void *, size_t, size_t *);
	int (*write_header)(struct archive *, struct archive_entry *);
	la_ssize_t (*write_data)(struct archive *, const void *, size_t);
	int (*write_close)(struct archive *);
	/* struct archive_entry */
	struct archive_entry *(*entry_new)(void);
	void (*entry_free)(struct archive_entry *);
	const char *(*entry_pathname)(struct archive_entry *);
	const char *(*entry_hardlink)(struct archive_entry *);
	const char *(*entry_symlink)(struct archive_entry *);
	__LA_MODE_T (*entry_filetype)(struct archive_entry *);
	__LA_MODE_T (*entry_perm)(struct archive_entry *);
	la_int64_t (*entry_size)(struct archive_entry *);
	la_int64_t (*entry_uid)(struct archive_entry *);
	la_int64_t (*entry_gid)(struct archive_entry *);
	time_t (*entry_mtime)(struct archive_entry *);
	int (*entry_mtime_is_set)(struct archive_entry *);
	dev_t (*entry_rdevmajor)(struct archive_entry *);
	dev_t (*entry_rdevminor)(struct archive_entry *);
	void (*entry_set_pathname)(struct archive_entry *, const char *);
	void (*entry_set_hardlink)(struct archive_entry *, const char *);
	void (*entry_set_symlink)(struct archive_entry *, const char *);
	void (*entry_set_mode)(struct archive_entry *, __LA_MODE_T);
	void (*entry_set_size)(struct archive_entry *, la_int64_t);
	void (*entry_set_uid)(struct archive_entry *, la_int64_t);
	void (*entry_set_gid)(struct archive_entry *, la_int64_t);
	void (*entry_set_mtime)(struct archive_entry *, time_t, long);
	void (*entry_set_rdevmajor)(struct archive_entry *, dev_t);
	void (*entry_set_rdevminor)(struct archive_entry *, dev_t);
	void (*entry_xattr_add_entry)(struct archive_entry *, const char *, const void *, size_t);
	int (*entry_xattr_reset)(struct archive_entry *);
	int (*entry_xattr_next)(struct archive_entry *, const char **, const void **, size_t *);
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
/* Written once, inside pthread_once, so readers need no lock. */
static char load_error[512];

static void load(void)
{
	void *h = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *why;

	if (!h) {
		why = dlerror();
		snprintf(load_error, sizeof(load_error), "libarchive could not be loaded: %s",
			 why ? why : LIBARCHIVE_SONAME);
		return;
	}
#define SYM(field, name)                                                                           \
	do {                                                                                       \
		*(void **)&fn.field = dlsym(h, name);                                              \
		if (!fn.field) {                                                                   \
			snprintf(load_error, sizeof(load_error),                                   \
				 "libarchive (" LIBARCHIVE_SONAME ") lacks '%s'", name);           \
			return;                                                                    \
		}                                                                                  \
	} while (0)
	SYM(error_string, "archive_error_string");
	SYM(set_error, "archive_set_error");
	SYM(read_new, "archive_read_new");
	SYM(read_free, "archive_read_free");
	SYM(read_support_filter_all, "archive_read_support_filter_all");
	SYM(read_support_format_empty, "archive_read_support_format_empty");
	SYM(read_support_format_raw, "archive_read_support_format_raw");
	SYM(read_support_format_tar, "archive_read_support_format_tar");
	SYM(read_open2, "archive_read_open2");
	SYM(read_next_header, "archive_read_next_header");
	SYM(read_data, "archive_read_data");
	SYM(write_new, "archive_write_new");
	SYM(write_free, "archive_write_free");
	SYM(write_add_filter, "archive_write_add_filter");
	SYM(write_add_filter_none, "archive_write_add_filter_none");
	SYM(write_set_format_pax_restricted, "archive_write_set_format_pax_restricted");
	SYM(write_set_format_option, "archive_write_set_format_option");
	SYM(write_set_bytes_per_block, "archive_write_set_bytes_per_block");
	SYM(write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block");
	SYM(write_open2, "archive_write_open2");
	SYM(write_open_memory, "archive_write_open_memory");
	SYM(write_header, "archive_write_header");
	SYM(write_data, "archive_write_data");
	SYM(write_close, "archive_write_close");
	SYM(entry_new, "archive_entry_new");
	SYM(entry_free, "archive_entry_free");
	SYM(entry_pathname, "archive_entry_pathname");
	SYM(entry_hardlink, "archive_entry_hardlink");
	SYM(entry_symlink, "archive_entry_symlink");
	SYM(entry_filetype, "archive_entry_filetype");
	SYM(entry_perm, "archive_entry_perm");
	SYM(entry_size, "archive_entry_size");
	SYM(entry_uid, "archive_entry_uid");
	SYM(entry_gid, "archive_entry_gid");
	SYM(entry_mtime, "archive_entry_mtime");
	SYM(entry_mtime_is_set, "archive_entry_mtime_is_set");
	SYM(entry_rdevmajor, "archive_entry_rdevmajor");
	SYM(entry_rdevminor, "archive_entry_rdevminor");
	SYM(entry_set_pathname, "archive_entry_set_pathname");
	SYM(entry_set_hardlink, "archive_entry_set_hardlink");
	SYM(entry_set_symlink, "archive_entry_set_symlink");
	SYM(entry_set_mode, "archive_entry_set_mode");
	SYM(entry_set_size, "archive_entry_set_size");
	SYM(entry_set_uid, "archive_entry_set_uid");
	SYM(entry_set_gid, "archive_entry_set_gid");
	SYM(entry_set_mtime, "archive_entry_set_mtime");
	SYM(entry_set_rdevmajor, "archive_entry_set_rdevmajor");
	SYM(entry_set_rdevminor, "archive_entry_set_rdevminor");
	SYM(entry_xattr_add_entry, "archive_entry_xattr_add_entry");
	SYM(entry_xattr_reset, "archive_entry_xattr_reset");
	SYM(entry_xattr_next, "archive_entry_xattr_next");
#undef SYM
	/* The handle stays open for the life of the process, as a linked
	 * library would. */
	loaded = true;
}

static bool ensure(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

const char *hoist_archive_load_error(void)
{
	return ensure() ? NULL : load_error;
}

/* Only the constructors check: every other call takes a handle one of them
 * returned, so the library is loaded by then. */

struct archive *archive_read_new(void)
{
	return ensure() ? fn.read_new() : NULL;
}

struct archive *archive_write_new(void)
{
	return ensure() ? fn.write_new() : NULL;
}

struct archive_entry *archive_entry_new(void)
{
	return ensure() ? fn.entry_new() : NULL;
}

const char *archive_error_string(struct archive *a)
{
	return ensure() ? fn.error_string(a) : load_error;
}

/* libarchive's own formatter takes only a subset of printf's conversions;
 * format here and hand it the finished text. */
void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn.set_error(a, err, "%s", msg);
}

int archive_read_free(struct archive *a)
{
	if (!a) /* a no-op in libarchive too, and may come before any load */
		return ARCHIVE_OK;
	return fn.read_free(a);
}

int archive_read_support_filter_all(struct archive *a)
{
	return fn.read_support_filter_all(a);
}

int archive_read_support_format_empty(struct archive *a)
{
	return fn.read_support_format_empty(a);
}

int archive_read_support_format_raw(struct archive *a)
{
	return fn.read_support_format_raw(a);
}

int archive_read_support_format_tar(struct archive *a)
{
	return fn.read_support_format_tar(a);
}

int archive_read_open2(struct archive *a, void *data, archive_open_callback *open_cb,
		       archive_read_callback *read_cb, archive_skip_callback *skip_cb,
		       archive_close_callback *close_cb)
{
	return fn.read_open2(a, data, open_cb, read_cb, skip_cb, close_cb);
}

int archive_read_next_header(struct archive *a, struct archive_entry **ret)
{
	return fn.read_next_header(a, ret);
}

la_ssize_t archive_read_data(struct archive *a, void *buf, size_t len)
{
	return fn.read_data(a, buf, len);
}

int archive_write_free(struct archive *a)
{
	if (!a)
		return ARCHIVE_OK;
	return fn.write_free(a);
}

int archive_write_add_filter(struct archive *a, int code)
{
	return fn.write_add_filter(a, code);
}

int archive_write_add_filter_none(struct archive *a)
{
	return fn.write_add_filter_none(a);
}

int archive_write_set_format_pax_restricted(struct archive *a)
{
	return fn.write_set_format_pax_restricted(a);
}

int archive_write_set_format_option(struct archive *a, const char *m, const char *o, const char *v)
{
	return fn.write_set_format_option(a, m, o, v);
}

int archive_write_set_bytes_per_block(struct archive *a, int n)
{
	return fn.write_set_bytes_per_block(a, n);
}

int archive_write_set_bytes_in_last_block(struct archive *a, int n)
{
	return fn.write_set_bytes_in_last_block(a, n);
}

int archive_write_open2(struct archive *a, void *data, archive_open_callback *open_cb,
			archive_write_callback *write_cb, archive_close_callback *close_cb,
			archive_free_callback *free_cb)
{
	return fn.write_open2(a, data, open_cb, write_cb, close_cb, free_cb);
}

int archive_write_open_memory(struct archive *a, void *buf, size_t size, size_t *used)
{
	return fn.write_open_memory(a, buf, size, used);
}

int archive_write_header(struct archive *a, struct archive_entry *ae)
{
	return fn.write_header(a, ae);
}

la_ssize_t archive_write_data(struct archive *a, const void *buf, size_t len)
{
	return fn.write_data(a, buf, len);
}

int archive_write_close(struct archive *a)
{
	return fn.write_close(a);
}

void archive_entry_free(struct archive_entry *ae)
{
	if (ae)
		fn.entry_free(ae);
}

const char *archive_entry_pathname(struct archive_entry *ae)
{
	return fn.entry_pathname(ae);
}

const char *archive_entry_hardlink(struct archive_entry *ae)
{
	return fn.entry_hardlink(ae);
}

const char *archive_entry_symlink(struct archive_entry *ae)
{
	return fn.entry_symlink(ae);
}

__LA_MODE_T archive_entry_filetype(struct archive_entry *ae)
{
	return fn.entry_filetype(ae);
}

__LA_MODE_T archive_entry_perm(struct archive_entry *ae)
{
	return fn.entry_perm(ae);
}

la_int64_t archive_entry_size(struct archive_entry *ae)
{
	return fn.entry_size(ae);
}

la_int64_t archive_entry_uid(struct archive_entry *ae)
{
	return fn.entry_uid(ae);
}

la_int64_t archive_entry_gid(struct archive_entry *ae)
{
	return fn.entry_gid(ae);
}

time_t archive_entry_mtime(struct archive_entry *ae)
{
	return fn.entry_mtime(ae);
}

int archive_entry_mtime_is_set(struct archive_entry *ae)
{
	return fn.entry_mtime_is_set(ae);
}

dev_t archive_entry_rdevmajor(struct archive_entry *ae)
{
	return fn.entry_rdevmajor(ae);
}

dev_t archive_entry_rdevminor(struct archive_entry *ae)
{
	return fn.entry_rdevminor(ae);
}

void archive_entry_set_pathname(struct archive_entry *ae, const char *s)
{
	fn.entry_set_pathname(ae, s);
}

void archive_entry_set_hardlink(struct archive_entry *ae, const char *s)
{
	fn.entry_set_hardlink(ae, s);
}

void archive_entry_set_symlink(struct archive_entry *ae, const char *s)
{
	fn.entry_set_symlink(ae, s);
}

void archive_entry_set_mode(struct archive_entry *ae, __LA_MODE_T m)
{
	fn.entry_set_mode(ae, m);
}

void archive_entry_set_size(struct archive_entry *ae, la_int64_t n)
{
	fn.entry_set_size(ae, n);
}

void archive_entry_set_uid(struct archive_entry *ae, la_int64_t id)
{
	fn.entry_set_uid(ae, id);
}

void archive_entry_set_gid(struct archive_entry *ae, la_int64_t id)
{
	fn.entry_set_gid(ae, id);
}

void archive_entry_set_mtime(struct archive_entry *ae, time_t sec, long nsec)
{
	fn.entry_set_mtime(ae, sec, nsec);
}

void archive_entry_set_rdevmajor(struct archive_entry *ae, dev_t d)
{
	fn.entry_set_rdevmajor(ae, d);
}

void archive_entry_set_rdevminor(struct archive_entry *ae, dev_t d)
{
	fn.entry_set_rdevminor(ae, d);
}

void archive_entry_xattr_add_entry(struct archive_entry *ae, const char *name, const void *value,
				   size_t size)
{
	fn.entry_xattr_add_entry(ae, name, value, size);
}

int archive_entry_xattr_reset(struct archive_entry *ae)
{
	return fn.entry_xattr_reset(ae);
}

int archive_entry_xattr_next(struct archive_entry *ae, const char **name, const void **value,
			     size_t *size)
{
	return fn.entry_xattr_next(ae, name, value, size);
}
