"""The simulated world: a synthetic knowledge base written as documents, and tasks about it.

People over a few generations (birth year and city, spouse, father, children, employer) and
companies (headquarters city), all invented from the seed. Each person and company becomes one
short text document for the local corpus search tool. Tasks are drawn from the families in
`memento.sim.families`; a task's accepted answer is its family's plan run against the knowledge
base, and a distractor task asks about the same person as its base task with a different answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from memento.eval.datasets import Task
from memento.sim.config import SimConfig
from memento.sim.families import FAMILIES, Step, twin

_FIRST = (
    "Alva Bodil Caro Dagny Edris Fenna Gisla Halvar Ilka Joris Kelda Lorn Maren Nils Odra Per "
    "Quilla Rasmo Sigrun Torv Ulla Vidar Wenna Yrsa Zeno Agnar Brisa Corvin Dalla Eskil Frode "
    "Greta Hakon Iselin Jarle Kaia Leif Mirja Njal Oda"
).split()
_LAST = (
    "Brenn Vell Quist Aldor Marsk Tindra Holm Fjell Sander Varg Korsa Lind Ebbe Roske Stave "
    "Dunmore Harrow Pell Wick Orrin Thale Gorse Brack Ashby"
).split()
_CITIES = "Korvath Elmsby Thistlemoor Varnhold Quaymouth Drellin Ostry Falkmere".split()
_COMPANIES = [
    "Quillon Works",
    "Harrowgate Mills",
    "Brightwater Cartography",
    "Ostmark Shipping",
    "Fenwick Instruments",
    "Lowell Glassworks",
    "Tamsin Press",
    "Corrigan Foundry",
]


@dataclass
class Person:
    """One invented person."""

    name: str
    birth_year: int
    birth_city: str
    employer: str
    generation: int
    spouse: str | None = None
    father: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SimTask:
    """One generated task with its family, people and accepted answer."""

    task_id: str
    family: str
    slots: dict[str, str]
    question: str
    answer: str
    epoch: int = 0
    """Epoch that asks it under `questions="fresh"`; 0: every epoch (`"repeat"`)."""


def _list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class World:
    """The knowledge base and the tasks for one `SimConfig`."""

    def __init__(self, config: SimConfig) -> None:
        """Build people, companies and tasks from `config.seed`."""
        self.config = config
        rng = random.Random(f"world:{config.seed}")
        self.companies = {c: rng.choice(_CITIES) for c in _COMPANIES}
        self.people: dict[str, Person] = {}
        self._build_people(rng)
        self.tasks = self._build_tasks(random.Random(f"tasks:{config.seed}"))

    # -- knowledge base --------------------------------------------------------------------
    def _new_person(self, rng: random.Random, last: str, gen: int) -> Person:
        while True:
            name = f"{rng.choice(_FIRST)} {last}"
            if name not in self.people:
                break
        year = 1900 + 30 * gen + rng.randrange(25)
        person = Person(name, year, rng.choice(_CITIES), rng.choice(_COMPANIES), gen)
        self.people[name] = person
        return person

    def _build_people(self, rng: random.Random) -> None:
        heads = [self._new_person(rng, rng.choice(_LAST), 0) for _ in range(self.config.couples)]
        for head in heads:
            self._marry(head, self._new_person(rng, rng.choice(_LAST), 0))
        for gen in range(1, self.config.generations):
            born: list[Person] = []
            for father in heads:
                for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
                    child = self._new_person(rng, father.name.split()[-1], gen)
                    child.father = father.name
                    father.children.append(child.name)
                    if father.spouse:
                        self.people[father.spouse].children.append(child.name)
                    born.append(child)
            rng.shuffle(born)
            heads = []
            for person in born:
                if person.spouse is not None or rng.random() < 0.15:
                    continue
                match = next(
                    (o for o in born if o.spouse is None and o.father != person.father), None
                )
                if match is None or match is person:
                    match = self._new_person(rng, rng.choice(_LAST), gen)
                self._marry(person, match)
                heads.append(person)

    def _marry(self, a: Person, b: Person) -> None:
        a.spouse, b.spouse = b.name, a.name

    def lookup(self, subject: str, relation: str) -> str | None:
        """One fact, as the documents state it (None when the world has no such fact)."""
        if relation == "headquarters":
            return self.companies.get(subject)
        person = self.people.get(subject)
        if person is None:
            return None
        if relation == "children":
            return _list(person.children) if person.children else "none"
        value = getattr(person, relation, None)
        return None if value is None else str(value)

    def solve(self, steps: tuple[Step, ...] | list[Step], slots: dict[str, str]) -> str | None:
        """Run a plan on the knowledge base: the answer it leads to (None if it breaks)."""
        results: list[str | None] = []
        for step in steps:
            ref = results[int(step.arg[1:]) - 1] if step.arg.startswith("#") else None
            if step.kind == "lookup":
                subject = ref if step.arg.startswith("#") else slots.get(step.arg)
                results.append(self.lookup(subject, step.relation) if subject else None)
            elif step.kind == "count":
                results.append(None if ref is None else str(count_names(ref)))
            else:
                other = results[int(step.arg2[1:]) - 1]
                if ref is None or other is None or ref == other:
                    results.append(None)
                    continue
                first = int(ref) < int(other)
                pick = "X" if first == (step.relation == "earlier") else "Y"
                results.append(slots.get(pick))
        return results[-1] if results else None

    def documents(self) -> dict[str, str]:
        """File name -> text of every document of the corpus."""
        docs: dict[str, str] = {}
        for p in self.people.values():
            lines = [f"{p.name} was born in {p.birth_year}."]
            lines.append(f"{p.name} was born in the city of {p.birth_city}.")
            if p.spouse:
                lines.append(f"{p.name} is married to {p.spouse}.")
            if p.father:
                lines.append(f"The father of {p.name} is {p.father}.")
            if p.children:
                lines.append(f"The children of {p.name} are {_list(p.children)}.")
            else:
                lines.append(f"{p.name} has no children.")
            lines.append(f"{p.name} works for {p.employer}.")
            docs[f"person_{p.name.replace(' ', '_').lower()}.txt"] = (
                f"{p.name}\n\n" + " ".join(lines) + "\n"
            )
        for company, city in self.companies.items():
            text = f"{company}\n\n{company} is a company headquartered in the city of {city}.\n"
            docs[f"company_{company.replace(' ', '_').lower()}.txt"] = text
        return docs

    def write_documents(self, folder: Path) -> list[Path]:
        """Write the corpus documents under `folder`; returns their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in sorted(self.documents().items()):
            path = folder / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths

    # -- tasks -----------------------------------------------------------------------------
    def _answer(self, family: str, slots: dict[str, str]) -> str | None:
        return self.solve(FAMILIES[family].plan, slots)

    def _build_tasks(self, rng: random.Random) -> list[SimTask]:
        tasks: list[SimTask] = []
        names = sorted(self.people)
        for base in self.config.families:
            pair = [base, twin(base)] if self.config.distractors and twin(base) else [base]
            options: list[dict[str, str]] = []
            for x in names:
                for y in names if "{Y}" in FAMILIES[base].template else [""]:
                    slots = {"X": x, "Y": y} if y else {"X": x}
                    if y == x:
                        continue
                    answers = [self._answer(f, slots) for f in [base, twin(base)] if f]
                    if all(a is not None for a in answers) and len(set(answers)) == len(answers):
                        options.append(slots)
            per_epoch = self.config.tasks_per_family
            fresh = self.config.questions == "fresh"
            wanted = per_epoch * (self.config.epochs if fresh else 1)
            if len(options) < wanted:
                raise ValueError(
                    f"the world has only {len(options)} possible {base!r} tasks and "
                    f"{wanted} are needed; raise SimConfig.couples or lower tasks_per_family"
                    + (" or epochs" if fresh else "")
                )
            for i, slots in enumerate(rng.sample(options, wanted)):
                epoch = 1 + i // per_epoch if fresh else 0
                for fam in pair:
                    question = FAMILIES[fam].template.format(**slots)
                    answer = self._answer(fam, slots) or ""
                    tasks.append(SimTask(f"{fam}-{i + 1}", fam, slots, question, answer, epoch))
        rng.shuffle(tasks)
        return tasks

    def eval_tasks(self, epoch: int | None = None) -> list[Task]:
        """The tasks of `epoch` (all tasks if None) in the evaluation harness's format.

        Under `questions="repeat"` every epoch asks all tasks; under `"fresh"` each task
        belongs to one epoch. `data_source` is the task's family.
        """
        return [
            Task(
                task_id=t.task_id,
                question=t.question,
                ground_truth=[t.answer],
                data_source=t.family,
                line=i,
            )
            for i, t in enumerate(self.tasks, 1)
            if epoch is None or t.epoch in (0, epoch)
        ]


def count_names(text: str) -> int:
    """How many names a children list holds ('none' is zero)."""
    text = text.strip().rstrip(".")
    if not text or text.lower() in ("none", "not found"):
        return 0
    return len([p for p in text.replace(" and ", ", ").split(",") if p.strip()])
