/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference parsing, checked against what Docker's distribution/reference
 * (ParseNormalizedNamed + TagNameOnly) gives for the same input.
 */
#include <errno.h>
#include <string.h>

#include "hoist/ref.h"
#include "hoist/util.h"
#include "../tap.h"

#define D64 "sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa"
#define HEX64 "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa"

struct good {
	const char *in;
	const char *domain, *path, *tag, *digest; /* tag/digest NULL when absent */
	const char *string, *familiar;
};

static const struct good goods[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL, "docker.io/library/busybox:latest",
     "busybox:latest"},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, "docker.io/library/busybox:1.36",
     "busybox:1.36"},
    {"user/img:tag", "docker.io", "user/img", "tag", NULL, "docker.io/user/img:tag",
     "user/img:tag"},
    {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/user/x:1", "docker.io", "user/x", "1", NULL, "docker.io/user/x:1",
     "user/x:1"},
    {"docker.io/library/a/b", "docker.io", "library/a/b", "latest", NULL,
     "docker.io/library/a/b:latest", "library/a/b:latest"},
    {"localhost:5000/a/b:t", "localhost:5000", "a/b", "t", NULL, "localhost:5000/a/b:t",
     "localhost:5000/a/b:t"},
    {"localhost/foo", "localhost", "foo", "latest", NULL, "localhost/foo:latest",
     "localhost/foo:latest"},
    {"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", NULL, "127.0.0.1:5000/x:latest",
     "127.0.0.1:5000/x:latest"},
    {"host.example.com/x@" D64, "host.example.com", "x", NULL, D64, "host.example.com/x@" D64,
     "host.example.com/x@" D64},
    {"busybox@" D64, "docker.io", "library/busybox", NULL, D64, "docker.io/library/busybox@" D64,
     "busybox@" D64},
    {"name:tag@" D64, "docker.io", "library/name", "tag", D64, "docker.io/library/name:tag@" D64,
     "name:tag@" D64},
    {"example:5000/a", "example:5000", "a", "latest", NULL, "example:5000/a:latest",
     "example:5000/a:latest"},
    {"[::1]:5000/ipv6/img:v1", "[::1]:5000", "ipv6/img", "v1", NULL, "[::1]:5000/ipv6/img:v1",
     "[::1]:5000/ipv6/img:v1"},
    {"[2001:db8::1]/x", "[2001:db8::1]", "x", "latest", NULL, "[2001:db8::1]/x:latest",
     "[2001:db8::1]/x:latest"},
    /* an upper-case first component is a host, as in distribution */
    {"Foo/bar", "Foo", "bar", "latest", NULL, "Foo/bar:latest", "Foo/bar:latest"},
    {"a-b_c__d/e.f--g", "docker.io", "a-b_c__d/e.f--g", "latest", NULL,
     "docker.io/a-b_c__d/e.f--g:latest", "a-b_c__d/e.f--g:latest"},
    {"my-registry.io:443/team/app:1.2.3-rc_1", "my-registry.io:443", "team/app", "1.2.3-rc_1", NULL,
     "my-registry.io:443/team/app:1.2.3-rc_1", "my-registry.io:443/team/app:1.2.3-rc_1"},
    {"ubuntu:Latest_Tag", "docker.io", "library/ubuntu", "Latest_Tag", NULL,
     "docker.io/library/ubuntu:Latest_Tag", "ubuntu:Latest_Tag"},
    {"a/b/c/d/e", "docker.io", "a/b/c/d/e", "latest", NULL, "docker.io/a/b/c/d/e:latest",
     "a/b/c/d/e:latest"},
    {"x:_tag", "docker.io", "library/x", "_tag", NULL, "docker.io/library/x:_tag", "x:_tag"},
    /* a bare "localhost:5000" is name "localhost", tag "5000" (Docker's FIXME) */
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
     "docker.io/library/localhost:5000", "localhost:5000"},
    {"gcr.io/distroless/static-debian12:nonroot", "gcr.io", "distroless/static-debian12", "nonroot",
     NULL, "gcr.io/distroless/static-debian12:nonroot",
     "gcr.io/distroless/static-debian12:nonroot"},
    {"0/1", "docker.io", "0/1", "latest", NULL, "docker.io/0/1:latest", "0/1:latest"},
    {"a.b.c/d", "a.b.c", "d", "latest", NULL, "a.b.c/d:latest", "a.b.c/d:latest"},
    /* familiar forms that would read as a host keep "docker.io/" */
    {"docker.io/a.b/c", "docker.io", "a.b/c", "latest", NULL, "docker.io/a.b/c:latest",
     "docker.io/a.b/c:latest"},
    {"docker.io/localhost/x", "docker.io", "localhost/x", "latest", NULL,
     "docker.io/localhost/x:latest", "docker.io/localhost/x:latest"},
};

static const char *const bads[] = {
    "",
    "Busybox",			   /* uppercase repository */
    "user/Img",			   /* uppercase in a path component */
    "docker.io/library/BusyBox:1", /* idem with a domain */
    "busybox:",			   /* empty tag */
    "busybox:-tag",		   /* tag must start with [\w] */
    "busybox:ta/g",		   /* '/' in a tag: becomes a path with ':' */
    "busybox:tag!",		   /* bad tag character */
    "busybox@sha256:abc",	   /* short digest */
    "busybox@sha256:" HEX64 "0",   /* long digest */
    "busybox@sha256:7CC4B5AEFD1D0CADF8D97D4350462BA51C694EBCA145B08D7D41B41ACC8DB5AA",
    "busybox@md5:0123456789abcdef0123456789abcdef", /* unsupported algorithm */
    "busybox@",					    /* empty digest */
    "@" D64,					    /* no name */
    ":tag",					    /* no name */
    "a//b",					    /* empty component */
    "/a",					    /* empty first component */
    "a/",					    /* empty last component */
    "http://docker.io/busybox",			    /* URL */
    "docker://busybox",				    /* transport prefix */
    HEX64,					    /* a bare 64-hex id is not a name */
    "-a/b",					    /* component starting with '-' */
    "a/b-",					    /* component ending with '-' */
    "a/b..c",					    /* two dots */
    "a/b___c",					    /* three underscores */
    "a/b._c",					    /* mixed separators */
    "host:port/x",				    /* non-numeric port */
    "host:/x",					    /* empty port */
    "-host.com/x",				    /* host component starting with '-' */
    "host..com/x",				    /* empty host component */
    "[zz::1]/x",				    /* not hex in IPv6 */
    "[]/x",					    /* empty IPv6 */
    "a b",					    /* space */
    "a-b.c_d/e", /* the '.' makes a host, and '_' is not valid there */
    "busybox:"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 129-char tag */
    "busybox:1@" D64 "@" D64,						 /* two digests */
    "a/b:c:d",								 /* two tags */
};

static bool streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

int main(void)
{
	tap_plan_auto();

	for (size_t i = 0; i < ARRAY_SIZE(goods); i++) {
		const struct good *g = &goods[i];
		struct hoist_ref r;
		struct hoist_error err = {0};
		int rc = hoist_ref_parse(g->in, &r, &err);
		if (!tap_ok(rc == 0, "parse '%s'", g->in)) {
			tap_diag("error: %s", err.msg);
			continue;
		}
		char *s = hoist_ref_string(&r), *f = hoist_ref_familiar(&r);
		char *repo = hoist_ref_repository(&r);
		char *want_repo = hoist_xasprintf("%s/%s", g->domain, g->path);
		bool ok = streq(r.domain, g->domain) && streq(r.path, g->path) &&
			  streq(r.tag, g->tag) && streq(r.digest, g->digest) &&
			  streq(s, g->string) && streq(f, g->familiar) && streq(repo, want_repo);
		if (!tap_ok(ok, "'%s' -> '%s' / '%s'", g->in, g->string, g->familiar))
			tap_diag("got domain=%s path=%s tag=%s digest=%s string=%s familiar=%s",
				 r.domain, r.path, r.tag ? r.tag : "(null)",
				 r.digest ? r.digest : "(null)", s, f);
		free(s);
		free(f);
		free(repo);
		free(want_repo);
		hoist_ref_release(&r);
	}

	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		struct hoist_ref r;
		struct hoist_error err = {0};
		int rc = hoist_ref_parse(bads[i], &r, &err);
		tap_ok(rc == -EINVAL && err.msg[0] && r.domain == NULL, "reject '%s': %s", bads[i],
		       err.msg);
		if (rc == 0)
			hoist_ref_release(&r);
	}

	/* the 255-character name limit */
	{
		struct hoist_ref r;
		char name[300];
		memset(name, 'a', sizeof(name));
		/* "docker.io/library/" is 18 characters: 237 + 18 = 255 is fine */
		name[237] = '\0';
		tap_ok(hoist_ref_parse(name, &r, NULL) == 0, "a 255-character name is accepted");
		hoist_ref_release(&r);
		memset(name, 'a', sizeof(name));
		name[238] = '\0';
		tap_ok(hoist_ref_parse(name, &r, NULL) == -EINVAL,
		       "a 256-character name is rejected");
	}
	/* an error message names the problem, lower-case */
	{
		struct hoist_ref r;
		struct hoist_error err = {0};
		hoist_ref_parse("Busybox", &r, &err);
		tap_ok(strstr(err.msg, "must be lowercase") != NULL, "uppercase message: %s",
		       err.msg);
		hoist_ref_parse("busybox:bad!", &r, &err);
		tap_ok(strstr(err.msg, "bad tag 'bad!'") != NULL, "tag message: %s", err.msg);
	}
	hoist_ref_release(NULL);
	return tap_done();
}
