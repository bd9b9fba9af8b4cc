"""Train MemN2N (specs/memn2n.yaml; Sukhbaatar et al. 2015) on synthetic bAbI-like stories.

The stories are like the chapter's: a few people move between places and pick up and drop objects, and the
question asks where an object is:

    joe went to the kitchen. joe picked up the milk. joe went to the office. ... where is the milk? -> office

The answer is the place of the person holding the object, or the place where it was dropped, so it takes two or
three supporting facts (the pick-up or drop, and the holder's latest move before it or since). Sentences are
one-hot words [N, S, J, V] (padding words and empty memory slots are zero vectors), the most recent sentence in
memory slot 0, as in the paper. After training, the script prints which sentences each hop attended to for one
held-out story; the attention is taken with a forward hook on the `hop` block (p = softmax(u^T m) of its inputs).

    python examples/babi_memory.py                    # 10,000 training stories
    python examples/babi_memory.py --quick            # a fast look
    python examples/babi_memory.py -D hops=2 -D dim=32

The spec's params can be overridden with -D NAME=VALUE; vocab and memory_size are set from the generator.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "memn2n.yaml"

PEOPLE = ["joe", "fred", "mary", "sandra"]
PLACES = ["kitchen", "office", "bathroom", "garden", "hallway", "bedroom"]
OBJECTS = ["milk", "apple", "football"]
WORDS = ["went", "to", "the", "picked", "up", "dropped", "where", "is"]
VOCAB = PEOPLE + PLACES + OBJECTS + WORDS
INDEX = {w: i for i, w in enumerate(VOCAB)}
SENTENCE_WORDS = 5                     # the longest sentence: "joe picked up the milk"


def make_story(rng: random.Random, min_facts: int = 4, max_facts: int = 12):
    """One story: (sentences, question, answer, supporting sentence indices). Each sentence is a list of words."""
    while True:
        where = {}                     # person -> place
        holder = {}                    # object -> person holding it
        lies = {}                      # object -> place where it was dropped
        last = {}                      # person or object -> index of its latest relevant sentence
        support = {}                   # object -> sentences that give its place
        facts = []
        for _ in range(rng.randint(min_facts, max_facts)):
            person = rng.choice(PEOPLE)
            held = [o for o, p in holder.items() if p == person]
            free = [o for o in OBJECTS if o not in holder and (o not in lies or lies[o] == where.get(person))]
            actions = ["go"] * 3
            if person in where and free:
                actions += ["pick"] * 2
            if held:
                actions += ["drop"]
            action = rng.choice(actions)
            i = len(facts)
            if action == "go":
                where[person] = rng.choice([p for p in PLACES if p != where.get(person)])
                facts.append([person, "went", "to", "the", where[person]])
                last[person] = i
            elif action == "pick":
                obj = rng.choice(free)
                holder[obj] = person
                lies.pop(obj, None)
                facts.append([person, "picked", "up", "the", obj])
                last[obj] = i
            else:
                obj = rng.choice(held)
                del holder[obj]
                lies[obj] = where[person]
                facts.append([person, "dropped", "the", obj])
                support[obj] = [last[person], i]
                last[obj] = i
        known = [o for o in OBJECTS if o in holder or o in lies]
        if not known:
            continue
        obj = rng.choice(known)
        if obj in holder:
            answer, supporting = where[holder[obj]], [last[obj], last[holder[obj]]]
        else:
            answer, supporting = lies[obj], support[obj]
        return facts, ["where", "is", "the", obj], answer, sorted(set(supporting))


def make_stories(n: int, seed: int, **kw):
    rng = random.Random(seed)
    return [make_story(rng, **kw) for _ in range(n)]


def encode(stories, memory_size: int):
    """One-hot tensors: story [N, S, J, V] (most recent sentence first), query [N, J, V], answer ids [N]."""
    n, V, J = len(stories), len(VOCAB), SENTENCE_WORDS
    story = torch.zeros(n, memory_size, J, V)
    query = torch.zeros(n, J, V)
    answer = torch.empty(n, dtype=torch.long)
    for b, (facts, question, ans, _) in enumerate(stories):
        for slot, sentence in enumerate(reversed(facts[-memory_size:])):
            for j, word in enumerate(sentence):
                story[b, slot, j, INDEX[word]] = 1.0
        for j, word in enumerate(question):
            query[b, j, INDEX[word]] = 1.0
        answer[b] = INDEX[ans]
    return story, query, answer


class HopAttention:
    """A forward hook on the `hop` block: records p = softmax(u^T m) for every hop (the block runs once per hop)."""

    def __init__(self, hop):
        self.hops = []
        self.handle = hop.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        u, mems = inputs
        m = mems.select(1, 0)                                      # this hop's memory vectors A x_i
        self.hops.append(torch.softmax(torch.einsum("nsd,nd->ns", m, u), dim=-1).detach())

    def remove(self):
        self.handle.remove()


def accuracy(model, story, query, answer, batch: int = 500) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(answer), batch):
            correct += (model(story[i:i + batch], query[i:i + batch]).argmax(1) == answer[i:i + batch]).sum().item()
    model.train()
    return correct / len(answer)


def show_attention(model, stories, story, query, index: int = 0, top: int = 3, out=print):
    """Print one story, its question and answer, and the sentences each hop attended to most."""
    facts, question, ans, supporting = stories[index]
    recorder = HopAttention(model.hop)
    try:
        with torch.no_grad():
            pred = VOCAB[model.eval()(story[index:index + 1], query[index:index + 1]).argmax(1).item()]
    finally:
        recorder.remove()
        model.train()
    shown = facts[-story.shape[1]:]
    first = len(facts) - len(shown)
    out("story:")
    for i, sentence in enumerate(shown, start=first):
        mark = "*" if i in supporting else " "
        out(f"  {mark}{i + 1:2d}. {' '.join(sentence)}.")
    out(f"question: {' '.join(question)}?  answer: {ans}  predicted: {pred}   (* = supporting facts)")
    for k, p in enumerate(recorder.hops, start=1):
        weights = p[0, :len(shown)]                              # slot s holds sentence len(facts) - 1 - s
        best = weights.argsort(descending=True)[:top].tolist()
        parts = [f"{len(facts) - s}. \"{' '.join(facts[len(facts) - 1 - s])}\" ({weights[s]:.2f})" for s in best]
        empty = p[0, len(shown):].sum().item()                   # temporal encoding can draw attention there
        out(f"hop {k}: " + "; ".join(parts) + (f"   [empty slots {empty:.2f}]" if len(shown) < p.shape[1] else ""))
    return recorder.hops


def _param(item: str):
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--stories", type=int, default=10000, help="training stories")
    ap.add_argument("--test-stories", type=int, default=1000, help="held-out stories")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--lr-decay", type=float, default=0.5, help="learning rate factor every --decay-every epochs")
    ap.add_argument("--decay-every", type=int, default=15)
    ap.add_argument("--max-facts", type=int, default=10, help="sentences per story, at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", type=float, default=None, help="stop once the held-out accuracy reaches this")
    ap.add_argument("--quick", action="store_true", help="a fast run: 1,000 stories, 6 epochs, short stories")
    ap.add_argument("-D", dest="params", action="append", default=[], metavar="NAME=VALUE",
                    help="override a spec parameter, e.g. -D dim=32 -D hops=2")
    ap.add_argument("--quiet", action="store_true", help="only the per-epoch lines")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.stories, args.test_stories, args.max_facts = 6, 1000, 200, 6
        args.decay_every = 100
    return args


def main(argv=None):
    """Train and evaluate; returns (final held-out accuracy, per-epoch mean training losses)."""
    sys.path.insert(0, str(ROOT))
    import archdsl

    args = parse_args(argv)
    start = time.time()
    torch.manual_seed(args.seed)
    memory_size = args.max_facts
    overrides = {"vocab": len(VOCAB), "memory_size": memory_size, "dim": 32, "hops": 3}
    overrides.update(dict(_param(item) for item in args.params))
    model = archdsl.load(SPEC, **overrides).build()
    n_params = sum(t.numel() for t in model.parameters())
    train = make_stories(args.stories, args.seed, max_facts=args.max_facts)
    test = make_stories(args.test_stories, args.seed + 1_000_003, max_facts=args.max_facts)
    train_t, test_t = encode(train, memory_size), encode(test, memory_size)
    print(f"memn2n {overrides}: {n_params:,} parameters; {len(train)} training and {len(test)} held-out stories")

    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.decay_every, gamma=args.lr_decay)
    gen = torch.Generator().manual_seed(args.seed)
    history, acc = [], 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train), generator=gen)
        total, steps = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = F.cross_entropy(model(train_t[0][idx], train_t[1][idx]), train_t[2][idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 40.0)    # the paper's gradient clipping
            opt.step()
            total, steps = total + loss.item(), steps + 1
            if not args.quiet and steps % 100 == 0:
                print(f"  epoch {epoch} step {steps}: loss {total / steps:.4f}", flush=True)
        sched.step()
        history.append(total / steps)
        acc = accuracy(model, *test_t)
        print(f"epoch {epoch}: loss {history[-1]:.4f}, held-out accuracy {acc:.1%} ({time.time() - start:.0f} s)",
              flush=True)
        if args.target is not None and acc >= args.target:
            break
    print(f"final held-out accuracy {acc:.2%} on {len(test)} stories, {time.time() - start:.0f} s")
    print()
    show_attention(model, test, test_t[0], test_t[1], index=0)
    return acc, history


if __name__ == "__main__":
    main()
