def test_a_signed_in_admin_sees_the_default_pipeline_on_the_board(as_admin, stages, make_lead):
    make_lead(first_name="Grace", last_name="Hopper", company="Navy", value="1200")
    page = as_admin.get("/board").get_data(as_text=True)
    names = [name for name in stages]
    positions = [page.index(f'>{name}</h2>') for name in names]
    assert positions == sorted(positions)
    assert "Grace Hopper" in page and "$1,200" in page
