#!/usr/bin/env python3
"""Generates the small corpus and labelled task in data/ from hand-written
templates (deterministic; re-running reproduces the committed files).

data/corpus/en.txt, data/corpus/zh.txt  unlabelled text for preprocess/pretrain
data/task/{train,dev,test}.tsv          3-class topic task: sports, cooking, computing
"""
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "data"
rng = random.Random(2026)

TOPICS = {
    "sports": {
        "subjects": ["the striker", "our goalkeeper", "the home team", "the young sprinter", "the coach",
                     "the visiting side", "the tennis champion", "the rowing crew", "the captain", "the referee",
                     "the marathon runner", "the defender", "the swimmer", "the cyclist", "the boxer"],
        "verbs": ["scored twice in", "trained hard before", "celebrated after", "was injured during",
                  "won the final of", "lost narrowly in", "dominated", "struggled through", "prepared for",
                  "was substituted in"],
        "objects": ["the league match", "the championship game", "the relay race", "the penalty shootout",
                    "the second half", "the season opener", "the cup semifinal", "the derby", "the playoffs",
                    "the Olympic heats", "the away fixture", "the tournament"],
        "tails": ["in front of a packed stadium", "despite the heavy rain", "after a tactical change at halftime",
                  "with a record time", "and the fans sang all night", "under the floodlights",
                  "while the scouts watched closely", "before the transfer window closed"],
    },
    "cooking": {
        "subjects": ["the chef", "my grandmother", "the baker", "the line cook", "our neighbour",
                     "the pastry student", "the food critic", "the restaurant owner", "my brother",
                     "the home cook", "the kitchen team", "the caterer"],
        "verbs": ["slowly simmered", "carefully seasoned", "roasted", "kneaded", "whisked", "grilled",
                  "tasted", "sliced", "marinated", "baked", "stirred", "garnished"],
        "objects": ["the tomato sauce", "a loaf of sourdough bread", "the lamb shoulder", "the garlic butter",
                    "a pot of lentil soup", "the chocolate cake", "fresh pasta dough", "the vegetable curry",
                    "a tray of cinnamon rolls", "the mushroom risotto", "the lemon tart", "the spicy noodles"],
        "tails": ["with a pinch of sea salt", "until the kitchen smelled of herbs", "over a low flame",
                  "for the family dinner", "using an old recipe", "and served it with rice",
                  "before the guests arrived", "in a cast iron pan"],
    },
    "computing": {
        "subjects": ["the programmer", "our database", "the compiler", "the new laptop", "the server cluster",
                     "the security team", "the operating system", "the web browser", "the graphics card",
                     "the startup engineer", "the cloud service", "the kernel developer"],
        "verbs": ["crashed while running", "quickly compiled", "debugged", "optimised", "deployed",
                  "rewrote", "benchmarked", "patched", "encrypted", "indexed", "refactored", "cached"],
        "objects": ["the source code", "the memory allocator", "the network driver", "a large dataset",
                    "the login service", "the build system", "the unit tests", "the search index",
                    "the file system", "the machine learning model", "the API gateway", "the backup script"],
        "tails": ["after the latest software update", "on a machine with sixteen cores", "to reduce latency",
                  "before the release deadline", "using a faster algorithm", "and the logs looked clean",
                  "while the users were asleep", "with fewer memory allocations"],
    },
}

GENERAL_EN = [
    "The river ran quietly past the old mill while the town slept.",
    "She kept a notebook of every bird she saw on her morning walks.",
    "Trains to the coast were delayed because of the storm.",
    "The library opened a new reading room for children last spring.",
    "He painted the fence blue, then changed his mind and painted it green.",
    "Farmers in the valley began the harvest a week earlier than usual.",
    "The museum displayed maps drawn by sailors three centuries ago.",
    "A small cafe on the corner sells coffee and second hand books.",
    "Snow covered the mountain pass, and the road was closed until April.",
    "The orchestra rehearsed the symphony twice before the concert.",
    "Our teacher explained how volcanoes form beneath the ocean floor.",
    "The garden was full of bees that summer, busy among the lavender.",
]

ZH = [
    "今天早上我在公园里跑步，空气非常清新。", "这家餐厅的面条很好吃，价格也不贵。", "我们的球队在比赛中赢了三个球。",
    "程序员花了一整夜修复服务器的错误。", "奶奶教我用老方法做红烧肉。", "图书馆新开了一个安静的阅览室。",
    "下雨的时候，街上的人都撑着伞。", "这台电脑的运行速度比以前快多了。", "他每天坚持练习游泳，成绩越来越好。",
    "春天来了，山上的花都开了。", "我喜欢在周末和朋友一起包饺子。", "新的操作系统修复了很多安全漏洞。",
    "火车因为大雪晚点了两个小时。", "老师讲解了火山是怎样形成的。", "这个城市的地铁非常方便。",
    "厨师把鱼蒸得又嫩又香。", "足球比赛在晚上八点开始。", "数据库的索引让查询变快了。",
    "孩子们在河边放风筝。", "她把文章翻译成了英文。",
]


def sentence(topic):
    t = TOPICS[topic]
    s = f"{rng.choice(t['subjects'])} {rng.choice(t['verbs'])} {rng.choice(t['objects'])} {rng.choice(t['tails'])}"
    s = s[0].upper() + s[1:]
    return s + rng.choice([".", ".", ".", "!"])


def corpus():
    lines = []
    for _ in range(130):
        for topic in TOPICS:
            lines.append(sentence(topic) + " " + sentence(topic))
    lines += GENERAL_EN * 2  # exact duplicates on purpose: preprocess removes them
    rng.shuffle(lines)
    zh = []
    for _ in range(6):
        picked = rng.sample(ZH, 3)
        zh.append("".join(picked))
    zh += ZH
    (ROOT / "corpus").mkdir(parents=True, exist_ok=True)
    (ROOT / "corpus" / "en.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (ROOT / "corpus" / "zh.txt").write_text("\n".join(zh) + "\n", encoding="utf-8")


def task():
    (ROOT / "task").mkdir(parents=True, exist_ok=True)
    seen = set()
    for split, n in [("train", 600), ("dev", 150), ("test", 150)]:
        rows = []
        while len(rows) < n:
            topic = rng.choice(sorted(TOPICS))
            s = sentence(topic)
            if s in seen:
                continue
            seen.add(s)
            rows.append(f"{topic}\t{s}")
        (ROOT / "task" / f"{split}.tsv").write_text("label\ttext\n" + "\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    corpus()
    task()
