/* SPDX-License-Identifier: Apache-2.0 */
/* hoist cache ls | prune | verify: the build cache and the store's health. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "hoist/build.h"
#include "hoist/registry.h"
#include "hoist/sandbox.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist cache COMMAND [OPTIONS]\n\n"
		"Manage the build cache and the store.\n\n"
		"Commands:\n"
		"  ls       List build cache records\n"
		"  prune    Remove blobs, snapshots and trees nothing uses (--all: and the cache)\n"
		"  verify   Re-hash every blob and check every reference\n\n"
		"Run 'hoist cache COMMAND --help' for a command's options.\n");
}

static void usage_ls(FILE *f)
{
	fprintf(f, "Usage: hoist cache ls [-q] [--no-trunc] [--remote SPEC]\n\n"
		   "List the build cache records: KEY (the step's cache key), SIZE (the\n"
		   "blobs the record references that are in the store, each counted once)\n"
		   "and AGE (when the record was written).\n\n"
		   "With --remote, the records of a cache made by --cache-to instead: SPEC\n"
		   "is a reference (a cache, or an image with inline records) or\n"
		   "type=local,src=DIR; SIZE is the layers' size the record names, AGE\n"
		   "when the cache was exported, STEP the step (its history line).\n\n"
		   "Options:\n"
		   "  -q, --quiet      print keys only\n"
		   "      --no-trunc   print whole keys\n"
		   "      --remote SPEC  list a registry or local cache (registry options\n"
		   "                   as for pull: --tls-ca, --insecure-registry)\n"
		   "  -h, --help       print this help and exit\n");
}

static void usage_prune(FILE *f)
{
	fprintf(f, "Usage: hoist cache prune [-a]\n\n"
		   "Garbage-collect the store: remove every blob, snapshot and unpacked layer\n"
		   "tree that no tag and no cache record reaches, and the temporary files of\n"
		   "commands that have exited. Untagging an image ('hoist rmi') frees its\n"
		   "blobs here. Waits for running builds, pulls, imports and loads.\n\n"
		   "Options:\n"
		   "  -a, --all    also drop every build cache record, stat cache and cache\n"
		   "               mount first\n"
		   "  -h, --help   print this help and exit\n");
}

static void usage_verify(FILE *f)
{
	fprintf(f, "Usage: hoist cache verify\n\n"
		   "Re-hash every blob and check that every tag and cache record points at\n"
		   "blobs that exist. Prints each problem on its own line and exits 1 when\n"
		   "there is one. Temporary files of commands that are still running are\n"
		   "not problems; those of commands that have exited are removed when the\n"
		   "store is opened, and what is left is listed as 'leftover:' (not damage).\n"
		   "Layers unpacked for RUN (ROOT/rootfs) are checked against the seal made\n"
		   "when they were unpacked; one that differs is reported and discarded (it\n"
		   "is unpacked again when a RUN needs it).\n\n"
		   "Options:\n"
		   "  -h, --help   print this help and exit\n");
}

/* Add the size of every distinct blob a record's digest strings name. */
static void record_size(struct hoist_store *s, json_t *j, struct hoist_strv *seen, uint64_t *size)
{
	const char *k;
	size_t i;
	json_t *v;

	if (json_is_string(j)) {
		const char *d = json_string_value(j);
		if (!hoist_digest_valid(d))
			return;
		for (size_t n = 0; n < seen->n; n++)
			if (strcmp(seen->v[n], d) == 0)
				return;
		hoist_strv_push(seen, d);
		int64_t sz = hoist_store_blob_size(s, d);
		if (sz > 0)
			*size += (uint64_t)sz;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) record_size(s, v, seen, size);
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v) record_size(s, v, seen, size);
	}
}

static int64_t parse_time(const char *ts)
{
	struct tm tm = {0};
	if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

/* hoist cache ls --remote SPEC */
static int cache_ls_remote(const struct hoist_registry_opts *ro, const char *text, bool quiet,
			   bool no_trunc)
{
	struct hoist_cache_spec spec;
	struct hoist_error err = {0};
	json_t *cfg = NULL;
	if (hoist_cache_spec_parse(text, false, &spec, &err) < 0)
		return cli_usage_error("cache ls", "%s", err.msg);
	int r = hoist_cache_fetch(ro, &spec, NULL, &cfg, NULL, &err);
	hoist_cache_spec_release(&spec);
	if (r < 0)
		return cli_fail(&err);
	int w = no_trunc ? HOIST_DIGEST_MAX - 1 : 12;
	int64_t created = parse_time(json_string_value(json_object_get(cfg, "created")));
	if (!quiet)
		printf("%-*s   %-10s   %-22s   %s\n", w, "KEY", "SIZE", "AGE", "STEP");
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(cfg, "records"), i, rec)
	{
		const char *k = json_string_value(json_object_get(rec, "key"));
		char key[HOIST_DIGEST_MAX], size[32], age[64];
		if (!k || !hoist_digest_valid(k))
			continue;
		snprintf(key, sizeof(key), "%.*s", w, no_trunc ? k : k + 7);
		if (quiet) {
			printf("%s\n", key);
			continue;
		}
		uint64_t total = 0;
		size_t j;
		json_t *l;
		json_array_foreach(json_object_get(rec, "layers"), j, l)
		{
			json_int_t sz = json_integer_value(json_object_get(l, "size"));
			if (sz > 0)
				total += (uint64_t)sz;
		}
		json_auto_t *c =
		    json_loads(json_string_value(json_object_get(rec, "config")) ?: "{}", 0, NULL);
		json_t *hist = json_object_get(c, "history");
		const char *step = json_string_value(
		    json_object_get(json_array_get(hist, json_array_size(hist) - 1), "created_by"));
		cli_human_size(total, size, sizeof(size));
		if (created)
			cli_human_since((int64_t)time(NULL) - created, age, sizeof(age));
		else
			snprintf(age, sizeof(age), "-");
		printf("%-*s   %-10s   %-22s   %.60s\n", w, key, size, age, step ? step : "");
	}
	json_decref(cfg);
	return HOIST_EXIT_OK;
}

static int cache_ls(int argc, char **argv)
{
	bool quiet = false, no_trunc = false;
	struct hoist_cache_entry *e = NULL;
	struct hoist_error err = {0};
	size_t n = 0;
	const char *remote = NULL;
	struct cli_registry reg __attribute__((cleanup(cli_registry_release)));
	int ra;

	cli_registry_init(&reg);
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage_ls(stdout);
			return HOIST_EXIT_OK;
		} else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--no-trunc") == 0) {
			no_trunc = true;
		} else if (strcmp(argv[i], "--remote") == 0 && i + 1 < argc) {
			remote = argv[++i];
		} else if (hoist_startswith(argv[i], "--remote=")) {
			remote = argv[i] + 9;
		} else if ((ra = cli_registry_arg(&reg, "cache ls", argc, argv, &i)) != 0) {
			if (ra < 0)
				return HOIST_EXIT_USAGE;
		} else {
			return cli_usage_error("cache ls", "unexpected argument '%s'", argv[i]);
		}
	}
	if (remote) {
		reg.progress_mode = "quiet";
		return cache_ls_remote(cli_registry_finish(&reg), remote, quiet, no_trunc);
	}
	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	if (hoist_store_cache_list(s, &e, &n, &err) < 0) {
		hoist_store_free(s);
		return cli_fail(&err);
	}
	int w = no_trunc ? HOIST_DIGEST_MAX - 1 : 12;
	if (!quiet)
		printf("%-*s   %-10s   %s\n", w, "KEY", "SIZE", "AGE");
	for (size_t i = 0; i < n; i++) {
		char key[HOIST_DIGEST_MAX], size[32], age[64];
		struct hoist_strv seen = HOIST_STRV_INIT;
		uint64_t total = 0;

		snprintf(key, sizeof(key), "%.*s", w, no_trunc ? e[i].key : e[i].key + 7);
		if (quiet) {
			printf("%s\n", key);
			continue;
		}
		json_t *j = json_loads(e[i].json, 0, NULL);
		record_size(s, j, &seen, &total);
		json_decref(j);
		hoist_strv_release(&seen);
		cli_human_size(total, size, sizeof(size));
		cli_human_since((int64_t)time(NULL) - e[i].mtime, age, sizeof(age));
		printf("%-*s   %-10s   %s\n", w, key, size, age);
	}
	hoist_store_cache_entries_free(e, n);
	hoist_store_free(s);
	return HOIST_EXIT_OK;
}

static int cache_prune(int argc, char **argv)
{
	bool all = false;
	struct hoist_gc_stats st = {0};
	struct hoist_error err = {0};
	char size[32];

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage_prune(stdout);
			return HOIST_EXIT_OK;
		} else if (strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--all") == 0) {
			all = true;
		} else {
			return cli_usage_error("cache prune", "unexpected argument '%s'", argv[i]);
		}
	}
	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	int r = hoist_store_gc(s, all, &st, &err);
	hoist_store_free(s);
	if (r < 0)
		return cli_fail(&err);
	cli_human_size(st.bytes_removed, size, sizeof(size));
	printf("deleted %llu blob%s, %llu snapshot%s, %llu cache record%s\n",
	       (unsigned long long)st.blobs_removed, st.blobs_removed == 1 ? "" : "s",
	       (unsigned long long)st.snapshots_removed, st.snapshots_removed == 1 ? "" : "s",
	       (unsigned long long)st.cache_removed, st.cache_removed == 1 ? "" : "s");
	if (st.rootfs_removed)
		printf("deleted %llu unpacked layer tree%s\n",
		       (unsigned long long)st.rootfs_removed, st.rootfs_removed == 1 ? "" : "s");
	printf("total reclaimed space: %s\n", size);
	return HOIST_EXIT_OK;
}

static int cache_verify(int argc, char **argv)
{
	struct hoist_buf report = HOIST_BUF_INIT;
	struct hoist_error err = {0};

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage_verify(stdout);
			return HOIST_EXIT_OK;
		}
		return cli_usage_error("cache verify", "unexpected argument '%s'", argv[i]);
	}
	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	int r = hoist_store_verify(s, &report, &err);
	/* The unpacked trees for RUN are the sandbox's to read (user namespaces). */
	size_t bad_trees = 0;
	struct hoist_error terr = {0};
	if (hoist_rootfs_verify(s, &report, &bad_trees, &terr) < 0) {
		hoist_buf_addf(&report, "%s\n", terr.msg);
		bad_trees++;
	}
	if (bad_trees && r == 0)
		r = hoist_error_set(&err, -EBADMSG, "store '%s' has %zu problem%s",
				    hoist_store_root(s), bad_trees, bad_trees == 1 ? "" : "s");
	else if (bad_trees) {
		char msg[sizeof(err.msg)];
		snprintf(msg, sizeof(msg), "%s", err.msg);
		hoist_error_set(&err, -EBADMSG, "%s, and %zu unpacked layer%s differed", msg,
				bad_trees, bad_trees == 1 ? "" : "s");
	}
	if (report.len)
		fputs(report.data, stdout);
	if (r == 0)
		printf("store '%s' is sound\n", hoist_store_root(s));
	hoist_buf_release(&report);
	hoist_store_free(s);
	return r < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}

int cmd_cache(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HOIST_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return HOIST_EXIT_OK;
	}
	if (strcmp(argv[1], "ls") == 0)
		return cache_ls(argc - 1, argv + 1);
	if (strcmp(argv[1], "prune") == 0)
		return cache_prune(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cache_verify(argc - 1, argv + 1);
	return cli_usage_error("cache", "unknown command '%s'", argv[1]);
}
