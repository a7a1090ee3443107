from django import template

from cxm.accounts.models import Role

register = template.Library()


@register.filter
def role_label(name: str) -> str:
    """The translated label of a role group name ("cx_lead" → "CX lead")."""
    try:
        return str(Role(name).label)
    except ValueError:
        return name
