"""Evidence for engineers: the Allure results of a run, and the HTML report made from them."""
