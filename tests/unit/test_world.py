from sqlmodel import Session, select

from data.models import Domain, Pool
from tests.factories import build_world


def test_demo_inventory_spreads_domains_over_shared_pools(engine):
    build_world(engine)
    with Session(engine) as session:
        pools = {p.id: p.name for p in session.exec(select(Pool))}
        used = [pools[d.shared_pool_id] for d in session.exec(select(Domain))]
    assert set(used) == {"shared-a", "shared-b"}
    assert abs(used.count("shared-a") - used.count("shared-b")) <= 1
