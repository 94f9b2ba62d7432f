"""The inventory guard: the targets of one cycle never need more cards of a type than there are
(docs/control.md, "The stabilizer's rules", rule 5). When they would, the servers of the lowest
priority give replicas back first, one at a time, down to one replica each, and to zero only if
that is still not enough."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .stabilizer import Decision


@dataclass(frozen=True)
class Placement:
    card_type: str
    cards_per_replica: int
    priority: int  # 1 is the most important


class Inventory:
    def __init__(self, cards: dict[str, int], placements: dict[str, Placement]) -> None:
        self.cards = dict(cards)
        self.placements = dict(placements)
        self.reserved: list[tuple[float, str, int]] = []  # (until_s, card type, cards): a move's old replicas
        self._undo: dict[str, tuple[Placement, tuple[float, str, int]]] = {}

    def set(self, card_type: str, count: int) -> None:
        self.cards[card_type] = int(count)

    def move(self, server: str, placement: Placement, old_replicas: int, until_s: float) -> None:
        """The server moves (make-before-break): its old replicas keep their cards until ``until_s``
        while its targets are counted on the new placement."""
        old = self.placements[server]
        entry = (until_s, old.card_type, old_replicas * old.cards_per_replica)
        self.reserved.append(entry)
        self.placements[server] = placement
        self._undo[server] = (old, entry)

    def cancel_move(self, server: str) -> None:
        """The move was not made (the actuator refused it): the server stays where it was."""
        old, entry = self._undo.pop(server)
        self.placements[server] = old
        self.reserved.remove(entry)

    def release(self, now_s: float) -> None:
        self.reserved = [r for r in self.reserved if r[0] > now_s]

    def needed(self, targets: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, card_type, cards in self.reserved:
            out[card_type] = out.get(card_type, 0) + cards
        for name, target in targets.items():
            p = self.placements[name]
            out[p.card_type] = out.get(p.card_type, 0) + target * p.cards_per_replica
        return out

    def fit(self, decisions: dict[str, Decision]) -> dict[str, Decision]:
        targets = {n: d.target for n, d in decisions.items()}
        # least important first; among equals, the largest first (it loses the smallest share)
        order = sorted(targets, key=lambda n: (-self.placements[n].priority, -targets[n], n))
        reduced: set[str] = set()
        for floor in (1, 0):
            for card_type, have in self.cards.items():
                for name in order:
                    p = self.placements[name]
                    if p.card_type != card_type:
                        continue
                    while self.needed(targets).get(card_type, 0) > have and targets[name] > floor:
                        targets[name] -= 1
                        reduced.add(name)
        out = dict(decisions)
        for name in reduced:
            card_type = self.placements[name].card_type
            out[name] = replace(decisions[name], target=targets[name],
                                reason=f"inventory: {card_type} has {self.cards[card_type]} cards; reduced by priority")
        return out
