/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of libcurl's API hoist calls, loaded with dlopen() on first use.
 *
 * Why: libcurl pulls in about 25 shared libraries (TLS, Kerberos, LDAP,
 * SSH, IDN, ...). Mapping and relocating them cost every hoist process
 * about 20 ms of CPU at start-up, most of a no-op rebuild's budget, while
 * most commands that need no registry (a cached build, run, inspect) never
 * call libcurl. hoist links this file instead of -lcurl; the first call
 * loads the library the headers came from (libcurl.so.4, or its GnuTLS
 * flavour) and resolves every function at once.
 *
 * When libcurl cannot be loaded, the calls fail the way libcurl's own do
 * when out of resources: curl_easy_init() returns NULL, curl_global_init()
 * CURLE_FAILED_INIT, curl_slist_append() NULL; curl_easy_strerror() says
 * why. Functions that take a handle are never reached without one.
 */
#define CURL_DISABLE_TYPECHECK 1 /* the typecheck macros would rename our definitions */

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;

static void load(void)
{
	static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
	void *h = NULL;

	for (size_t i = 0; !h && i < sizeof(names) / sizeof(names[0]); i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
#define SYM(field, name)                                                                           \
	do {                                                                                       \
		*(void **)&fn.field = dlsym(h, name);                                              \
		if (!fn.field)                                                                     \
			return;                                                                    \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(easy_escape, "curl_easy_escape");
	SYM(free, "curl_free");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
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

CURLcode curl_global_init(long flags)
{
	return ensure() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
	return ensure() ? fn.easy_init() : NULL;
}

/* The one variadic argument's type follows from the option's number range,
 * as libcurl itself reads it (CURLOPTTYPE_*). */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ensure())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = fn.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = fn.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = fn.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = fn.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *h)
{
	return ensure() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *h)
{
	if (ensure())
		fn.easy_cleanup(h);
}

/* Every CURLINFO_* takes one pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ensure())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = fn.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void curl_easy_reset(CURL *h)
{
	if (ensure())
		fn.easy_reset(h);
}

const char *curl_easy_strerror(CURLcode code)
{
	return ensure() ? fn.easy_strerror(code) : "libcurl (libcurl.so.4) could not be loaded";
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
	return ensure() ? fn.easy_escape(h, s, len) : NULL;
}

void curl_free(void *p)
{
	if (ensure())
		fn.free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return ensure() ? fn.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (ensure())
		fn.slist_free_all(list);
}
