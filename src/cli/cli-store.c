/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the commands that work on the store: opening it, human units. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "cli-store.h"
#include "cli.h"
#include "hoist/store.h"
#include "hoist/util.h"

struct hoist_store *cli_store_open(void)
{
	_cleanup_free_ char *root = hoist_store_default_root(hoist_global.root);
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};

	if (hoist_store_open(root, &s, &err) < 0) {
		cli_fail(&err);
		return NULL;
	}
	return s;
}

/* Docker's units.HumanSize: decimal units, three significant digits. */
void cli_human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1000.0 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, size, "%.4g%s", v, units[u]);
	/* "%.3g" would print 1e+03 for 999.5: round like Go's %.4g then trim */
	char num[32];
	snprintf(num, sizeof(num), "%.3g", v);
	if (!strchr(num, 'e'))
		snprintf(buf, size, "%s%s", num, units[u]);
}

/* Docker's units.HumanDuration, followed by " ago". */
void cli_human_since(int64_t seconds, char *buf, size_t size)
{
	int64_t s = seconds < 0 ? 0 : seconds;
	int64_t m = s / 60, h = s / 3600, d = h / 24;

	if (s < 1)
		snprintf(buf, size, "Less than a second ago");
	else if (s == 1)
		snprintf(buf, size, "1 second ago");
	else if (s < 60)
		snprintf(buf, size, "%lld seconds ago", (long long)s);
	else if (m == 1)
		snprintf(buf, size, "About a minute ago");
	else if (m < 60)
		snprintf(buf, size, "%lld minutes ago", (long long)m);
	else if (s < 5400)
		snprintf(buf, size, "About an hour ago");
	else if (h < 48)
		snprintf(buf, size, "%lld hours ago", (long long)h);
	else if (h < 24 * 7 * 2)
		snprintf(buf, size, "%lld days ago", (long long)d);
	else if (h < 24 * 30 * 2)
		snprintf(buf, size, "%lld weeks ago", (long long)(d / 7));
	else if (h < 24 * 365 * 2)
		snprintf(buf, size, "%lld months ago", (long long)(d / 30));
	else
		snprintf(buf, size, "%lld years ago", (long long)(d / 365));
}

int cli_blob_json(struct hoist_store *s, const char *digest, json_t **ret, struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	int r;

	r = hoist_store_blob_read(s, digest, HOIST_MAX_JSON_BLOB, &data, &len, err);
	if (r < 0)
		return r;
	json_t *j = json_loadb(data, len, 0, &jerr);
	if (!j)
		return hoist_error_set(err, -EBADMSG, "blob '%s' is not valid json: %s", digest,
				       jerr.text);
	*ret = j;
	return 0;
}

void cli_host_arch(const char **ret_arch, const char **ret_variant)
{
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
	    {"x86_64", "amd64", ""},	{"aarch64", "arm64", ""}, {"armv7l", "arm", "v7"},
	    {"armv6l", "arm", "v6"},	{"i686", "386", ""},	  {"i386", "386", ""},
	    {"ppc64le", "ppc64le", ""}, {"s390x", "s390x", ""},	  {"riscv64", "riscv64", ""},
	};
	struct utsname u;

	*ret_arch = "amd64";
	*ret_variant = "";
	if (uname(&u) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (strcmp(u.machine, map[i].machine) == 0) {
			*ret_arch = map[i].arch;
			*ret_variant = map[i].variant;
			return;
		}
	}
}

json_t *cli_index_pick(json_t *index)
{
	const char *arch, *variant;
	json_t *ms = json_object_get(index, "manifests");
	json_t *m;
	size_t i;

	cli_host_arch(&arch, &variant);
	json_array_foreach(ms, i, m)
	{
		json_t *p = json_object_get(m, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *a = json_string_value(json_object_get(p, "architecture"));
		const char *v = json_string_value(json_object_get(p, "variant"));
		if (os && strcmp(os, "linux") == 0 && a && strcmp(a, arch) == 0 &&
		    (!*variant || !v || strcmp(v, variant) == 0))
			return m;
	}
	return json_array_get(ms, 0);
}

/* RFC 3339 "2024-01-02T03:04:05.123Z" or with "+01:00" to seconds since the epoch. */
static int64_t parse_rfc3339(const char *s)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t off = 0;

	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2)
			off = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
	}
	return (int64_t)timegm(&tm) - off;
}

void cli_image_info(struct hoist_store *s, const char *digest, struct cli_image_info *ret)
{
	json_t *doc = NULL, *man = NULL, *cfg = NULL;
	const char *mdigest = digest;
	size_t i;
	json_t *l;

	memset(ret, 0, sizeof(*ret));
	ret->created = -1;
	snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
	snprintf(ret->id, sizeof(ret->id), "%s", digest);
	if (cli_blob_json(s, digest, &doc, NULL) < 0)
		return;
	if (json_is_array(json_object_get(doc, "manifests"))) {
		ret->is_index = true;
		mdigest = json_string_value(json_object_get(cli_index_pick(doc), "digest"));
		if (!mdigest || cli_blob_json(s, mdigest, &man, NULL) < 0)
			goto out;
	} else {
		man = json_incref(doc);
	}
	const char *cdigest =
	    json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
	if (!cdigest || !hoist_digest_valid(cdigest))
		goto out;
	if (!ret->is_index)
		snprintf(ret->id, sizeof(ret->id), "%s", cdigest);
	json_array_foreach(json_object_get(man, "layers"), i, l)
	{
		json_int_t n = json_integer_value(json_object_get(l, "size"));
		if (n > 0)
			ret->size += (uint64_t)n;
	}
	if (cli_blob_json(s, cdigest, &cfg, NULL) < 0)
		goto out;
	const char *created = json_string_value(json_object_get(cfg, "created"));
	if (created) {
		snprintf(ret->created_at, sizeof(ret->created_at), "%s", created);
		ret->created = parse_rfc3339(created);
	}
	ret->complete = true;
out:
	json_decref(cfg);
	json_decref(man);
	json_decref(doc);
}
