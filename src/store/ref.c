/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references with Docker's normalisation (distribution/reference's
 * grammar and ParseNormalizedNamed + TagNameOnly), written as a small
 * hand-rolled scanner instead of regular expressions:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] component ( "/" component )*
 *   domain     := host [ ":" port ]
 *   host       := domain-component ( "." domain-component )* | "[" ipv6 "]"
 *   component  := [a-z0-9]+ ( separator [a-z0-9]+ )*
 *   separator  := "." | "_" | "__" | "-"+
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "hoist/ref.h"
#include "hoist/util.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define DEFAULT_TAG "latest"
/* distribution/reference's NameTotalLengthMax */
#define NAME_MAX_LEN 255
/* Anything longer than this is not a reference; keeps the scanner bounded. */
#define REF_MAX_LEN 4096

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* One path component of length len: alnum runs joined by separators. */
static bool component_valid(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_lower_alnum(p[0]))
		return false;
	while (i < len) {
		while (i < len && is_lower_alnum(p[i]))
			i++;
		if (i == len)
			return true;
		if (p[i] == '.') {
			i++;
		} else if (p[i] == '_') {
			i++;
			if (i < len && p[i] == '_')
				i++;
		} else if (p[i] == '-') {
			while (i < len && p[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == len || !is_lower_alnum(p[i]))
			return false;
	}
	return true;
}

static bool path_valid(const char *p)
{
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (!component_valid(p, len))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static bool domain_component_valid(const char *p, size_t len)
{
	if (len == 0 || !is_alnum(p[0]) || !is_alnum(p[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(p[i]) && p[i] != '-')
			return false;
	return true;
}

static bool domain_valid(const char *d)
{
	const char *host_end;
	const char *port = NULL;

	if (d[0] == '[') {
		const char *close = strchr(d, ']');
		if (!close || close == d + 1)
			return false;
		for (const char *q = d + 1; q < close; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':')
				return false;
		host_end = close + 1;
		if (*host_end == ':')
			port = host_end + 1;
		else if (*host_end != '\0')
			return false;
	} else {
		const char *colon = strchr(d, ':');
		host_end = colon ? colon : d + strlen(d);
		if (colon)
			port = colon + 1;
		const char *p = d;
		for (;;) {
			const char *dot = memchr(p, '.', (size_t)(host_end - p));
			const char *end = dot ? dot : host_end;
			if (!domain_component_valid(p, (size_t)(end - p)))
				return false;
			if (!dot)
				break;
			p = dot + 1;
		}
	}
	if (port) {
		if (*port == '\0')
			return false;
		for (const char *q = port; *q; q++)
			if (*q < '0' || *q > '9')
				return false;
	}
	return true;
}

static bool tag_valid(const char *t)
{
	size_t len = strlen(t);
	if (len == 0 || len > 128 || !is_word(t[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
			return false;
	return true;
}

/*
 * distribution accepts any "algo:hex{32,}"; an image store can only use
 * digests it can verify, so hoist takes sha256 (64) and sha512 (128) in
 * their canonical lower-case form, as go-digest's Validate() does.
 */
static bool ref_digest_valid(const char *d)
{
	size_t want;
	const char *hex;

	if (hoist_startswith(d, "sha256:")) {
		want = 64;
		hex = d + 7;
	} else if (hoist_startswith(d, "sha512:")) {
		want = 128;
		hex = d + 7;
	} else {
		return false;
	}
	if (strlen(hex) != want)
		return false;
	for (size_t i = 0; i < want; i++)
		if (!is_lower_hex(hex[i]))
			return false;
	return true;
}

static bool has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

void hoist_ref_release(struct hoist_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	r->domain = r->path = r->tag = r->digest = NULL;
}

int hoist_ref_parse(const char *s, struct hoist_ref *r, struct hoist_error *err)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ char *domain = NULL;
	_cleanup_free_ char *path = NULL;
	char *tag = NULL, *digest = NULL;
	size_t len;

	r->domain = r->path = r->tag = r->digest = NULL;
	if (!s || !*s)
		return hoist_error_set(err, -EINVAL, "invalid reference format: empty reference");
	len = strlen(s);
	if (len > REF_MAX_LEN)
		return hoist_error_set(err, -EINVAL, "invalid reference format: too long");
	if (strstr(s, "://"))
		return hoist_error_set(
		    err, -EINVAL, "invalid reference format '%s': a reference is not a url", s);
	if (len == 64) {
		bool all_hex = true;
		for (size_t i = 0; i < 64; i++)
			all_hex = all_hex && is_lower_hex(s[i]);
		if (all_hex)
			return hoist_error_set(
			    err, -EINVAL,
			    "invalid repository name '%s': cannot specify 64-byte hexadecimal "
			    "strings",
			    s);
	}

	name = hoist_xstrdup(s);
	digest = strchr(name, '@');
	if (digest) {
		*digest++ = '\0';
		if (!ref_digest_valid(digest))
			return hoist_error_set(err, -EINVAL,
					       "invalid reference format '%s': bad digest '%s'", s,
					       digest);
	}
	/* A ':' after the last '/' starts the tag; before it, it is a port. */
	{
		char *colon = strrchr(name, ':');
		char *slash = strrchr(name, '/');
		if (colon && (!slash || colon > slash)) {
			*colon = '\0';
			tag = colon + 1;
			if (!tag_valid(tag))
				return hoist_error_set(
				    err, -EINVAL, "invalid reference format '%s': bad tag '%s'", s,
				    tag);
		}
	}
	if (!*name)
		return hoist_error_set(err, -EINVAL,
				       "invalid reference format '%s': empty repository name", s);

	/* splitDockerDomain */
	{
		char *slash = strchr(name, '/');
		if (!slash) {
			domain = hoist_xstrdup(DEFAULT_DOMAIN);
			path = hoist_xstrdup(name);
		} else {
			_cleanup_free_ char *first = hoist_xstrndup(name, (size_t)(slash - name));
			if (strcmp(first, "localhost") == 0 || strpbrk(first, ".:") ||
			    has_upper(first)) {
				domain = TAKE_PTR(first);
				path = hoist_xstrdup(slash + 1);
			} else {
				domain = hoist_xstrdup(DEFAULT_DOMAIN);
				path = hoist_xstrdup(name);
			}
		}
		if (strcmp(domain, LEGACY_DOMAIN) == 0) {
			free(domain);
			domain = hoist_xstrdup(DEFAULT_DOMAIN);
		}
		if (strcmp(domain, DEFAULT_DOMAIN) == 0 && !strchr(path, '/')) {
			char *p = hoist_xasprintf(OFFICIAL_PREFIX "%s", path);
			free(path);
			path = p;
		}
	}
	if (has_upper(path))
		return hoist_error_set(
		    err, -EINVAL,
		    "invalid reference format: repository name '%s' must be lowercase", path);
	if (!domain_valid(domain))
		return hoist_error_set(err, -EINVAL,
				       "invalid reference format '%s': bad registry host '%s'", s,
				       domain);
	if (!path_valid(path))
		return hoist_error_set(err, -EINVAL,
				       "invalid reference format '%s': bad repository name '%s'", s,
				       path);
	if (strlen(domain) + 1 + strlen(path) > NAME_MAX_LEN)
		return hoist_error_set(err, -EINVAL,
				       "invalid reference format '%s': repository name must not be "
				       "more than %d characters",
				       s, NAME_MAX_LEN);

	r->domain = TAKE_PTR(domain);
	r->path = TAKE_PTR(path);
	if (tag)
		r->tag = hoist_xstrdup(tag);
	else if (!digest)
		r->tag = hoist_xstrdup(DEFAULT_TAG);
	r->digest = digest ? hoist_xstrdup(digest) : NULL;
	return 0;
}

static char *format_ref(const char *domain, const char *path, const struct hoist_ref *r)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	if (domain)
		hoist_buf_addf(&b, "%s/", domain);
	hoist_buf_adds(&b, path);
	if (r->tag)
		hoist_buf_addf(&b, ":%s", r->tag);
	if (r->digest)
		hoist_buf_addf(&b, "@%s", r->digest);
	return hoist_buf_detach(&b, NULL);
}

char *hoist_ref_string(const struct hoist_ref *r)
{
	return format_ref(r->domain, r->path, r);
}

char *hoist_ref_familiar(const struct hoist_ref *r)
{
	const char *path = r->path;

	if (strcmp(r->domain, DEFAULT_DOMAIN) != 0)
		return format_ref(r->domain, r->path, r);
	/*
	 * Docker would print "docker.io/a.b/c" as "a.b/c", which then parses
	 * as host "a.b": keep the domain when the first component would read
	 * as a host, so the familiar form always parses back to the same name.
	 */
	{
		const char *slash = strchr(path, '/');
		size_t first = slash ? (size_t)(slash - path) : 0;
		if (slash && (memchr(path, '.', first) || memchr(path, ':', first) ||
			      (first == 9 && strncmp(path, "localhost", 9) == 0)))
			return format_ref(r->domain, r->path, r);
	}
	/* "library/x" shortens to "x", but "library/a/b" stays as it is. */
	if (hoist_startswith(path, OFFICIAL_PREFIX) && !strchr(path + strlen(OFFICIAL_PREFIX), '/'))
		path += strlen(OFFICIAL_PREFIX);
	return format_ref(NULL, path, r);
}

char *hoist_ref_repository(const struct hoist_ref *r)
{
	return hoist_xasprintf("%s/%s", r->domain, r->path);
}
