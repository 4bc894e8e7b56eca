/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the fstree module's files (fstree.c: nodes; layers.c: layers applied). */
#pragma once

#include "hoist/fstree.h"

/* Unlink n from its parent without freeing it (n->parent becomes NULL);
 * false when n is not in the tree. */
bool fsnode_detach(struct hoist_fsnode *n);
/* Free a detached node and everything below it. */
void fsnode_free(struct hoist_fsnode *n);
