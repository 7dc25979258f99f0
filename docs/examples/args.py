"""redigo's ExampleArgs, ported: Args, add_flat and scan_struct with dataclasses."""
import os
from dataclasses import dataclass, field
from typing import Optional

import redigo_py as redis


@dataclass
class Post:
    # Go's struct tag `redis:"title"` becomes field metadata.
    title: str = field(default="", metadata={"redis": "title"})
    author: str = field(default="", metadata={"redis": "author"})
    body: str = field(default="", metadata={"redis": "body"})


c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))

p1 = Post(title="Example", author="Gary", body="Hello")
c.do("HMSET", *redis.Args().add("id1").add_flat(p1))

m = {"title": "Example2", "author": "Steve", "body": "Map"}
c.do("HMSET", *redis.Args().add("id2").add_flat(m))

for id_ in ["id1", "id2"]:
    v = redis.values(c.do("HGETALL", id_))
    # Pass the class (a new instance) or an instance (filled in place).
    p2 = redis.scan_struct(v, Post)
    print(p2)


# "omitempty" leaves out an empty value; a None field is always left out.
@dataclass
class Profile:
    name: str
    nickname: str = field(default="", metadata={"redis": "nick,omitempty"})
    age: Optional[int] = None
    secret: str = field(default="", metadata={"redis": "-"})


print(redis.Args().add("user:1").add_flat(Profile("Ann", secret="x")))

c.close()
