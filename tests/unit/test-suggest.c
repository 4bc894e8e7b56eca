/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "Did you mean" hints (src/util/util.c): Levenshtein distances, and which
 * candidate, if any, is close enough to name.
 */
#include <stdint.h>
#include <string.h>

#include "hoist/util.h"
#include "tests/tap.h"

static const struct {
	const char *a, *b;
	size_t d;
} dist[] = {
    {"", "", 0},
    {"", "abc", 3},
    {"abc", "", 3},
    {"builder", "builder", 0},
    {"bulder", "builder", 1},
    {"biulder", "builder", 2},
    {"amd65", "amd64", 1},
    {"kitten", "sitting", 3},
    {"Builder", "builder", 0},
    {"arm64", "amd64", 2},
};

int main(void)
{
	tap_plan_auto();

	for (size_t i = 0; i < ARRAY_SIZE(dist); i++) {
		size_t d = hoist_edit_distance(dist[i].a, dist[i].b);
		tap_ok(d == dist[i].d, "distance '%s' to '%s' is %zu (got %zu)", dist[i].a,
		       dist[i].b, dist[i].d, d);
	}
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tap_ok(hoist_edit_distance(big, "a") == SIZE_MAX,
	       "strings over 256 bytes are not compared");

	const char *const stages[] = {"base", "builder", "test"};
	const char *m = hoist_closest_match("bulder", stages, ARRAY_SIZE(stages));
	tap_ok(m && strcmp(m, "builder") == 0, "'bulder' is closest to 'builder'");
	tap_ok(hoist_closest_match("production", stages, ARRAY_SIZE(stages)) == NULL,
	       "nothing close: no match");
	tap_ok(hoist_closest_match("builder", stages, ARRAY_SIZE(stages)) == NULL,
	       "the word itself is not a suggestion");
	tap_ok(hoist_closest_match("ab", (const char *const[]){"xy"}, 1) == NULL,
	       "a candidate as far as the word is long is not a suggestion");
	m = hoist_closest_match("tets", stages, ARRAY_SIZE(stages));
	tap_ok(m && strcmp(m, "test") == 0, "a transposition (2 edits) still matches");
	return tap_done();
}
