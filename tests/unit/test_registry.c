/* SPDX-License-Identifier: MIT */
/*
 * The channel registry: unique names, every required op present (the select ops in their
 * pairs), flags consistent with what pl_chan_kind_info() reports, the public list in registry
 * order with the default first.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "chan/kind.h"

int main(void)
{
	const struct pl_chan_ops *const *reg = pl__chan_registry();
	const char *const *names = pl_chan_kinds();
	size_t n = 0;

	CHECK(reg[0] != NULL);
	CHECK(strcmp(reg[0]->name, "mutex") == 0);
	for (; reg[n] != NULL; n++) {
		const struct pl_chan_ops *k = reg[n];
		struct pl_chan_kind_info info;

		pt_note("kind %s", k->name);
		CHECK(k->name != NULL && k->name[0] != '\0');
		CHECK(k->summary != NULL && k->summary[0] != '\0');
		CHECK(k->create && k->destroy && k->send && k->recv && k->try_send && k->try_recv &&
		      k->close && k->len);
		/* Select ops are optional, but come in pairs: what sel_arm registers, sel_disarm
		 * withdraws; and "none ready" needs a way to be seen at one instant. */
		CHECK((k->sel_arm == NULL) == (k->sel_disarm == NULL));
		CHECK(k->sel_hold != NULL || k->sel_version != NULL);
		for (size_t j = 0; j < n; j++)
			CHECK(strcmp(reg[j]->name, k->name) != 0);
		CHECK(names[n] != NULL && strcmp(names[n], k->name) == 0);
		CHECK_EQ(pl_chan_kind_info(k->name, &info), 0);
		CHECK(info.name == k->name);
		CHECK_EQ(info.rendezvous, (k->flags & PL_KIND_RENDEZVOUS) != 0);
		CHECK_EQ(info.unbounded, (k->flags & PL_KIND_UNBOUNDED) != 0);
		CHECK_EQ(info.spsc, (k->flags & PL_KIND_SPSC) != 0);
		CHECK_EQ(info.spins, (k->flags & PL_KIND_SPINS) != 0);
		/* Every registered kind really builds channels: the suites skip a kind whose
		 * pl_chan_new says ENOSYS (a kind being written), so this is where a registered
		 * placeholder must fail instead of being skipped everywhere. */
		{
			pl_chan *ch = pl_chan_new(k->name, 1);

			if (ch == NULL)
				pt_fail(__FILE__, __LINE__,
					"kind %s: pl_chan_new(1) failed: errno %d", k->name, errno);
			CHECK_EQ(pl_chan_try_send(ch, NULL), 0);
			pl_chan_free(ch);
		}
		printf("ok   %-10s %s\n", k->name, k->summary);
	}
	CHECK(names[n] == NULL);
	CHECK(n >= 3);
	{
		struct pl_chan_kind_info info;

		CHECK_EQ(pl_chan_kind_info("no-such-kind", &info), -EINVAL);
		CHECK_EQ(pl_chan_kind_info(NULL, &info), -EINVAL);
	}
	/* The three kinds DESIGN.md promises, with the capacities it promises. */
	{
		struct pl_chan_kind_info m, l, u;

		CHECK_EQ(pl_chan_kind_info("mutex", &m), 0);
		CHECK_EQ(pl_chan_kind_info("lockfree", &l), 0);
		CHECK_EQ(pl_chan_kind_info("urcu", &u), 0);
		CHECK(m.rendezvous && !m.spsc);
		CHECK(!l.spsc);
		CHECK(u.unbounded && !u.spsc);
	}
	printf("%zu kinds registered\n", n);
	return 0;
}
