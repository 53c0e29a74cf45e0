"""ui/state: what pages hand each other is kept per run, and a link is followed once (a value a
page wrote itself is an echo, not a link)."""
from streamlit.testing.v1 import AppTest


def _remix_script():
    import streamlit as st

    from ui import state
    if st.session_state.get("first", True):
        state.set_remix_lams("run-a", [0.1, -0.5, 1.0])
        state.add_remix("run-a", "remix a", [0.1, -0.5, 1.0], {"accuracy": 0.7})
        st.session_state["first"] = False
    st.text(repr(state.remix_lams("run-a")))
    st.text(repr(state.remix_lams("run-b")))
    st.text(repr(state.remix_config("run-a")))
    st.text(repr([r.label for r in state.added_remixes("run-a")]) + repr(state.added_remixes("run-b")))


def test_remix_coefficients_and_added_remixes_belong_to_their_run():
    at = AppTest.from_function(_remix_script).run()
    assert not at.exception
    assert [t.value for t in at.text] == ["(0.1, -0.5, 1.0)", "None", "'remix:0.1,-0.5,1'", "['remix a'][]"]


def _link_script():
    import streamlit as st

    from ui import state
    got = state.link_value("lam")
    st.text(repr(got))
    if st.session_state.get("write"):
        state.write_link("lam", st.session_state["write"])


def test_a_link_is_followed_once_and_the_pages_own_values_are_echoes():
    at = AppTest.from_function(_link_script)
    at.query_params["lam"] = "0.2,0.3"
    at.run()
    assert at.text[0].value == "'0.2,0.3'"          # a link: followed
    at.run()
    assert at.text[0].value == "None"               # the same address again: already followed
    at.session_state["write"] = "0.5,0.5"
    at.run()                                        # the page writes its own value
    at.query_params["lam"] = "0.5,0.5"
    at.run()
    assert at.text[0].value == "None"               # its own value coming back: an echo
    at.query_params["lam"] = "0.9,0.1"
    at.run()
    assert at.text[0].value == "'0.9,0.1'"          # a new link: followed
