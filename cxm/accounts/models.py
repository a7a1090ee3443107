"""Users, roles and teams."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """Each role is a Group with the same name, created with its permissions by a migration."""

    AGENT = "agent", _("Agent")
    CX_LEAD = "cx_lead", _("CX lead")
    ADMIN = "admin", _("Admin")


class UserManager(DjangoUserManager["User"]):
    use_in_migrations = True

    def _create_user_object(
        self, username: Any, email: str | None, password: str | None, **extra: Any
    ) -> User:
        email = self.normalize_email(email or username)
        user = self.model(email=email, **extra)
        user.password = ""
        return user

    def _create_user(
        self, username: Any, email: str | None, password: str | None, **extra: Any
    ) -> User:
        user = self._create_user_object(username, email, password, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(  # type: ignore[override]
        self, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(None, email, password, **extra)

    def create_superuser(  # type: ignore[override]
        self, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(None, email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    name = models.CharField(_("name"), max_length=150)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("Django admin access"), default=False, help_text=_("Lets the user open /django-admin/.")
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    invited_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        permissions = [("manage_users", "Can invite, edit and deactivate users")]

    def __str__(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email

    @cached_property
    def roles(self) -> set[str]:
        return set(self.groups.values_list("name", flat=True))

    def has_role(self, *roles: str) -> bool:
        return self.is_superuser or bool(self.roles & set(roles))


class Team(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    members = models.ManyToManyField(
        User, related_name="teams", blank=True, verbose_name=_("members")
    )
    # Told when the team's follow-ups run past their deadline; sees the team's follow-up queue.
    lead = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_teams",
        verbose_name=_("team lead"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ("name",)
        constraints = [models.UniqueConstraint(Lower("name"), name="accounts_team_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the secret is shown once."""

    PREFIX = "cxm_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(
        max_length=12, help_text="First characters of the token, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def digest_of(secret: str) -> str:
        # The secret carries 256 random bits, so a fast hash is enough: there is nothing to guess.
        return hashlib.sha256(secret.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
