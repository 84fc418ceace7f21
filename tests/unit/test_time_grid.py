from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, MS_PER_TENTH


def test_units_are_the_milliseconds_sql_lua_and_the_wire_assume() -> None:
    assert (MS_PER_TENTH, MS_PER_SECOND, MS_PER_MINUTE) == (100, 1000, 60_000)
    assert (MS_PER_HOUR, MS_PER_DAY) == (3_600_000, 86_400_000)
