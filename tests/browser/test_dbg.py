from tests.browser.conftest import sign_in
from app.services.leads import create_lead
def test_dbg(new_page, seeded):
    with seeded.live.db():
        a = create_lead({"email": "pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example", "company": "Northwind Traders", "job_title": "Head of Procurement and Strategic Vendor Relationships"}, None).id
    b = seeded.lead("Pia", "Phone", company="Hyperconvergedinfrastructureconsultancyworldwide Incorporated")
    page = new_page(viewport={"width":375,"height":812})
    sign_in(page, seeded.member)
    for url in [f"/leads/{a}", f"/leads/{b}", f"/leads/{a}/edit", "/leads/new", "/settings/users"]:
        page.goto(url)
        print(url, page.evaluate("document.documentElement.scrollWidth"))
        print(page.evaluate("""Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 380).map(e => e.tagName + '.' + e.className + ' ' + getComputedStyle(e).position + ' ' + Math.round(e.getBoundingClientRect().right) + ' ' + (e.textContent||'').trim().slice(0,30)).slice(0,30)"""))
